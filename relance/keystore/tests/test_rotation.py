"""Key rotation without downtime (R-62), and the `relance keys` command.

`rotate_scope` gives a scope a new wrap key and re-wraps its subject keys in small transactions;
`rotate_master` re-wraps scope keys under the primary master key. Values stay readable throughout
(R-60) and lookups by blind index keep working (R-61).
"""

from __future__ import annotations

import base64
import os
import threading
import time
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections

from relance.accounts import services as accounts
from relance.accounts.models import Organisation, User
from relance.keystore import services as keys
from relance.keystore.models import ScopeKey, SubjectKey
from relance.lib import crypto
from relance.lib.crypto import CryptoError
from relance.testing import make_org, make_user

both_databases = pytest.mark.django_db(databases=["default", "keys"])
OLD, NEW = os.urandom(32), os.urandom(32)


def ring(**named: bytes) -> str:
    return ",".join(f"{kid}:{base64.urlsafe_b64encode(raw).decode()}" for kid, raw in named.items())


@pytest.fixture(autouse=True)
def fast_rotation(monkeypatch):
    """Small batches, so that several transactions run; no settling pause (one process here)."""
    monkeypatch.setattr(keys, "ROTATION_BATCH", 3)
    monkeypatch.setattr(keys, "ROTATION_SETTLE", 0.0)


@pytest.fixture
def old_keyring(settings):
    settings.RELANCE_MASTER_KEY = ring(old=OLD)
    keys.clear_caches()
    return settings


def sealed_values(scope: str, count: int) -> list[tuple]:
    """Values sealed like a contact's fields, each under its own subject key in `scope`."""
    values = []
    for n in range(count):
        key_id = keys.create_subject_key(scope)
        aad = crypto.field_aad("tests_contact", "name", str(key_id))
        clear = f"Contact n°{n} — Çà ✓"
        values.append((key_id, keys.encrypt_text(key_id, clear, aad), aad, clear))
    return values


def population() -> dict:
    """Three organisations with their DPO, two users each, and extra sealed values in org A."""
    expected, orgs = {}, []
    for n in range(3):
        org = make_org(dpo_name=f"Dpo Nom{n}", dpo_email=f"dpo.rot{n}@example.org")
        orgs.append(org)
        expected[(Organisation, org.pk, "dpo_name")] = f"Dpo Nom{n}"
        expected[(Organisation, org.pk, "dpo_email")] = f"dpo.rot{n}@example.org"
        for _ in range(2):
            user = make_user(org, password=None)
            expected[(User, user.pk, "email")] = user.test_email
    values = sealed_values(keys.org_scope(orgs[0].pk), 7)
    return {"orgs": orgs, "fields": expected, "values": values}


def assert_all_readable(world: dict) -> None:
    keys.clear_caches()
    for (model, pk, field), clear in world["fields"].items():
        assert getattr(model.objects.get(pk=pk), field) == clear
    for key_id, sealed, aad, clear in world["values"]:
        assert keys.decrypt_text(key_id, sealed, aad) == clear


def wrap_versions(scope: str) -> dict[int, bool]:
    rows = ScopeKey.objects.filter(scope=scope, purpose=ScopeKey.WRAP).values_list("version", "retired_at")
    return {version: retired_at is None for version, retired_at in rows}


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("keys", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


# --- rotate_scope --------------------------------------------------------------------------
@both_databases
def test_it_rotates_an_organisation_key_and_keeps_every_value_readable():
    """R-62: a new wrap-key version, every subject key re-wrapped in batches, all values readable."""
    world = population()
    org_a, org_b = world["orgs"][0], world["orgs"][1]
    scope = keys.org_scope(org_a.pk)
    calls = []
    assert keys.rotate_scope(scope, lambda done, total: calls.append((done, total))) == 8
    assert calls == [(3, 8), (6, 8), (8, 8)]
    assert set(SubjectKey.objects.filter(scope=scope).values_list("wrap_version", flat=True)) == {2}
    assert wrap_versions(scope) == {1: False, 2: True}
    assert wrap_versions(keys.org_scope(org_b.pk)) == {1: True}
    assert_all_readable(world)


@both_databases
def test_it_wraps_new_subject_keys_with_the_new_version():
    """R-62: after a rotation, new data keys are wrapped by the new version, not the retired one."""
    org = make_org()
    scope = keys.org_scope(org.pk)
    sealed_values(scope, 2)
    keys.rotate_scope(scope)
    values = sealed_values(scope, 1)
    assert SubjectKey.objects.get(id=values[0][0]).wrap_version == 2
    keys.rotate_scope(scope)
    assert wrap_versions(scope) == {1: False, 2: False, 3: True}
    assert set(SubjectKey.objects.filter(scope=scope).values_list("wrap_version", flat=True)) == {3}
    assert_all_readable({"fields": {}, "values": values})


@both_databases
def test_it_rotates_the_platform_scope_and_keeps_logins_working():
    """R-61, R-62: users' keys re-wrapped; the index key is kept, so lookups by e-mail still work."""
    world = population()
    user = User.objects.get(pk=next(pk for (model, pk, _), _v in world["fields"].items() if model is User))
    keys.rotate_scope(keys.PLATFORM_SCOPE)
    assert_all_readable(world)
    assert accounts.find_user_by_email(user.email.upper()) == user
    assert ScopeKey.objects.filter(scope=keys.PLATFORM_SCOPE, purpose=ScopeKey.INDEX).count() == 1


@both_databases
def test_it_resumes_an_interrupted_rotation():
    """R-62: a rotation stopped half-way (two active versions) is finished, not started again."""
    org = make_org()
    scope = keys.org_scope(org.pk)
    values = sealed_values(scope, 5)
    keys._rotation_target(scope)  # what a crash right after creating the new version leaves
    assert wrap_versions(scope) == {1: True, 2: True}
    assert keys.rotate_scope(scope) == 6
    assert wrap_versions(scope) == {1: False, 2: True}
    assert_all_readable({"fields": {}, "values": values})


@both_databases
def test_it_sweeps_keys_wrapped_with_the_old_version_by_slower_processes(monkeypatch):
    """R-62: keys created meanwhile by a process that still saw the old version are re-wrapped too."""
    org = make_org()
    scope = keys.org_scope(org.pk)
    values = sealed_values(scope, 4)
    late = []

    class SettlingClock:
        monotonic = staticmethod(time.monotonic)

        @staticmethod
        def sleep(seconds):  # another process, its cache still on version 1, creates a key now
            key_id = keys.create_subject_key(scope)
            SubjectKey.objects.filter(id=key_id).update(
                wrap_version=1, wrapped=crypto.seal(keys.scope_key(scope, ScopeKey.WRAP, 1)[1],
                                                    keys.subject_key(key_id), crypto.key_aad("subject", str(key_id))))
            late.append(key_id)

    monkeypatch.setattr(keys, "time", SettlingClock)
    assert keys.rotate_scope(scope) == 6
    assert SubjectKey.objects.get(id=late[0]).wrap_version == 2
    assert_all_readable({"fields": {}, "values": values})


# --- rotate_master -------------------------------------------------------------------------
@both_databases
def test_it_rotates_the_master_key_then_reads_without_the_old_one(old_keyring):
    """R-62: with a new primary master key first in the keyring, every scope key is re-wrapped;
    the old key can then be removed and everything still reads."""
    world = population()
    assert set(ScopeKey.objects.values_list("master_key_id", flat=True)) == {"old"}
    old_keyring.RELANCE_MASTER_KEY = ring(new=NEW, old=OLD)
    assert keys.rotate_master() == ScopeKey.objects.count()
    assert not ScopeKey.objects.filter(master_key_id="old").exists()
    assert_all_readable(world)
    old_keyring.RELANCE_MASTER_KEY = ring(new=NEW)
    assert_all_readable(world)
    assert keys.rotate_master() == 0


@both_databases
def test_it_cannot_read_when_the_old_master_key_is_removed_too_early(old_keyring):
    """R-62: removing a master key before rotating makes scope keys unreadable, and says which key."""
    world = population()
    old_keyring.RELANCE_MASTER_KEY = ring(new=NEW)
    keys.clear_caches()
    with pytest.raises(CryptoError, match="'old' is not in the configured keyring"):
        assert_all_readable(world)
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError, match="missing from the keyring"):
        call_command("keys", "status", stdout=out, stderr=err)
    assert "old" in err.getvalue() and "NOT IN THE KEYRING" in err.getvalue()


@both_databases
def test_it_generates_a_new_master_key_in_the_keyring_file(settings, tmp_path):
    """R-62: `keys rotate --master --generate` prepends a new primary key to the keyring file
    (mode 600), re-wraps everything, and explains how to retire the old key."""
    keyring_file = tmp_path / "master.key"
    keyring_file.write_text(f"# embedded default\nfirst:{base64.b64encode(OLD).decode()}\n")
    keyring_file.chmod(0o600)
    settings.RELANCE_MASTER_KEY = None
    settings.RELANCE_MASTER_KEY_FILE = str(keyring_file)
    keys.clear_caches()
    world = population()
    out, _ = run("rotate", "--master", "--generate")
    parsed = crypto.parse_master_keyring(keyring_file.read_text())
    assert list(parsed.keys)[1:] == ["first"] and parsed.primary_id != "first"
    assert keyring_file.stat().st_mode & 0o777 == 0o600
    assert set(ScopeKey.objects.values_list("master_key_id", flat=True)) == {parsed.primary_id}
    assert f"Added master key {parsed.primary_id}" in out
    assert f"re-wrapped {ScopeKey.objects.count()}/{ScopeKey.objects.count()} scope keys" in out
    assert "Master key first wraps no scope key any more" in out and "remove its line" in out
    keyring_file.write_text(keyring_file.read_text().split("\n", 1)[0] + "\n")  # retire "first"
    assert_all_readable(world)


@both_databases
def test_it_refuses_to_generate_when_the_keyring_comes_from_the_environment(old_keyring):
    """R-62: the environment's keyring cannot be rewritten: the error says what to do instead."""
    make_org()
    with pytest.raises(CommandError, match="RELANCE_MASTER_KEY.*put a new 'id:base64' key"):
        run("rotate", "--master", "--generate")
    assert set(ScopeKey.objects.values_list("master_key_id", flat=True)) == {"old"}


@both_databases
def test_it_rotates_the_master_key_with_the_command(old_keyring):
    """R-62: `keys rotate --master` with the new key first in RELANCE_MASTER_KEY."""
    world = population()
    old_keyring.RELANCE_MASTER_KEY = ring(new=NEW, old=OLD)
    out, _ = run("rotate", "--master")
    assert "under master key new" in out and "Master key old wraps no scope key any more" in out
    assert "RELANCE_MASTER_KEY" in out
    old_keyring.RELANCE_MASTER_KEY = ring(new=NEW)
    assert_all_readable(world)
    out, _ = run("rotate", "--master")
    assert "already under master key new" in out


# --- the command: rotate --org, status, errors ---------------------------------------------
@both_databases
def test_it_rotates_an_organisation_by_slug_or_scope_with_progress():
    """R-62: `keys rotate --org SLUG` (or org:ID, or platform) shows \\r progress and a summary."""
    world = population()
    org = world["orgs"][0]
    out, _ = run("rotate", "--org", org.slug)
    assert "\rre-wrapped 3/8 keys\rre-wrapped 6/8 keys\rre-wrapped 8/8 keys\n" in out
    assert f"Organisation {org.slug} (org:{org.pk}): new wrap key version 2; re-wrapped 8 subject key(s)" in out
    out, _ = run("rotate", "--org", f"org:{org.pk}")
    assert "new wrap key version 3" in out
    out, _ = run("rotate", "--org", "platform")
    assert "Platform users: new wrap key version 2; re-wrapped 6 subject key(s)" in out
    assert_all_readable(world)


@both_databases
@pytest.mark.parametrize(
    "args, message",
    [
        (["rotate", "--org", "no-such-org"], "No organisation 'no-such-org'"),
        (["rotate", "--org", "org:999999"], "No organisation 'org:999999'"),
        (["rotate", "--org", "org:abc"], "No organisation 'org:abc'"),
        (["rotate", "--org", "x", "--generate"], "--generate goes with --master"),
        (["rotate"], "one of the arguments --master --org is required"),
        (["rotate", "--master", "--org", "x"], "not allowed with argument"),
        ([], "required"),
    ],
)
def test_it_exits_with_a_clear_message_on_bad_use(args, message):
    """R-62: errors name what was wrong and exit non-zero, changing nothing."""
    make_org()
    before = list(ScopeKey.objects.order_by("pk").values_list("pk", "version", "master_key_id"))
    with pytest.raises(CommandError, match=message):
        run(*args)
    assert list(ScopeKey.objects.order_by("pk").values_list("pk", "version", "master_key_id")) == before


@both_databases
def test_it_exits_non_zero_from_the_command_line(capsys):
    """R-62: from the terminal, an error is one line on stderr and a non-zero exit status."""
    from relance.keystore.management.commands.keys import Command

    with pytest.raises(SystemExit) as exit_info:
        Command().run_from_argv(["relance", "keys", "rotate", "--org", "no-such-org"])
    assert exit_info.value.code != 0
    assert "No organisation 'no-such-org'" in capsys.readouterr().err


@both_databases
def test_it_reports_status_without_personal_data(old_keyring):
    """R-62, R-61: per master key the scope keys it wraps; per organisation the wrap versions and
    subject-key counts; no name or e-mail."""
    world = population()
    org_a, org_b = world["orgs"][0], world["orgs"][1]
    keys.rotate_scope(keys.org_scope(org_a.pk))
    old_keyring.RELANCE_MASTER_KEY = ring(new=NEW, old=OLD)
    keys.rotate_master()
    out, err = run("status")
    assert err == ""
    lines = [line.split() for line in out.splitlines()]
    assert ["new", str(ScopeKey.objects.count()), "scope", "key(s)", "primary"] in lines
    assert ["old", "0", "scope", "key(s)", "can", "be", "removed"] in lines
    assert f"  org:{org_a.pk}  ({org_a.slug})" in out and f"  org:{org_b.pk}  ({org_b.slug})" in out
    assert ["wrap", "v1", "retired", "master", "new", "0", "subject", "key(s)"] in lines
    assert ["wrap", "v2", "active", "master", "new", "8", "subject", "key(s)"] in lines
    assert ["wrap", "v1", "active", "master", "new", "6", "subject", "key(s)"] in lines  # platform users
    for (_, _, _), clear in world["fields"].items():
        assert clear not in out
    assert "Nom" not in out and "@" not in out


# --- readers during a rotation (PostgreSQL: real concurrent connections) --------------------
@pytest.mark.postgres
@pytest.mark.django_db(databases=["default", "keys"], transaction=True)
def test_it_keeps_values_readable_from_another_thread_during_rotate_scope(monkeypatch):
    """R-62: while a scope is rotated batch by batch, readers in other threads never fail."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite test databases live in memory, one per connection")
    monkeypatch.setattr(keys, "ROTATION_BATCH", 5)
    org = make_org()
    scope = keys.org_scope(org.pk)
    values = sealed_values(scope, 120)
    started, stop = threading.Event(), threading.Event()
    reads, failures = [0], []

    def reader():
        try:
            while not stop.is_set():
                for key_id, sealed, aad, clear in values:
                    keys.clear_caches()  # force real reads of the key rows, mid-rotation
                    if keys.decrypt_text(key_id, sealed, aad) != clear:
                        failures.append(f"wrong value for {key_id}")
                    reads[0] += 1
                started.set()
        except Exception as exc:  # noqa: BLE001 - report any failure to the main thread
            failures.append(repr(exc))
            started.set()
        finally:
            connections.close_all()

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        assert started.wait(30)
        before = reads[0]
        assert keys.rotate_scope(scope) == 121
        during = reads[0] - before
    finally:
        stop.set()
        thread.join(30)
    assert failures == []
    assert during > 0
    assert set(SubjectKey.objects.filter(scope=scope).values_list("wrap_version", flat=True)) == {2}
    assert_all_readable({"fields": {}, "values": values})
