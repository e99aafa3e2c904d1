"""Settings from the environment (SPEC §3.7): production refuses to start without its secrets;
the embedded default generates them once into var/ (mode 600). R-60 (the master key never sits
in the database), R-61, R-62 (the master keyring may be given as a file).

Each start runs in a subprocess with a clean environment, since settings are read once per process.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

from relance.lib import crypto
from relance.lib.env import env_bool, env_int, env_list, env_secret

ROOT = Path(__file__).resolve().parent.parent
REQUIRED = ["SECRET_KEY", "RELANCE_MASTER_KEY", "DATABASE_URL", "RELANCE_KEYSTORE_URL", "ALLOWED_HOSTS"]
SETTINGS_PREFIXES = ("RELANCE_", "DATABASE_", "SECRET_KEY", "ALLOWED_HOSTS", "DEBUG", "CSRF_", "DJANGO_")


def start(var_dir: Path, code: str = "", **env: str) -> subprocess.CompletedProcess:
    """Run `django.setup()` (then `code`) in a fresh interpreter with only the given settings."""
    clean = {name: value for name, value in os.environ.items() if not name.startswith(SETTINGS_PREFIXES)}
    clean.update(DJANGO_SETTINGS_MODULE="relance.settings", RELANCE_VAR_DIR=str(var_dir), PYTHONPATH=str(ROOT))
    clean.update(env)
    script = "import django\ndjango.setup()\nfrom django.conf import settings\n" + code
    return subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120
    )


def production_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    env = {
        "RELANCE_ENV": "production",
        "SECRET_KEY": "a-production-secret-key-that-is-long-enough-0123456789",
        "RELANCE_MASTER_KEY": crypto.new_master_key_line(),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'main.sqlite3'}",
        "RELANCE_KEYSTORE_URL": f"sqlite:///{tmp_path / 'keys.sqlite3'}",
        "ALLOWED_HOSTS": "relance.example.org",
    }
    env.update(overrides)
    return {name: value for name, value in env.items() if value is not None}


def keyring_line(kid: str) -> str:
    return f"{kid}:{base64.urlsafe_b64encode(os.urandom(32)).decode()}"


# --- production ----------------------------------------------------------------------------
def test_it_refuses_to_start_in_production_without_its_secrets(tmp_path):
    """R-60: production names every missing secret and database, and does not start."""
    result = start(tmp_path / "var", RELANCE_ENV="production")
    assert result.returncode != 0
    assert "Relance cannot start in production: missing" in result.stderr
    for name in REQUIRED:
        assert name in result.stderr, name
    assert not (tmp_path / "var" / "secret_key").exists()
    assert not (tmp_path / "var" / "master.key").exists()


@pytest.mark.parametrize("missing", REQUIRED)
def test_it_names_only_what_is_missing(tmp_path, missing):
    """R-60: the message lists exactly what is missing, so the operator knows what to set."""
    result = start(tmp_path / "var", **production_env(tmp_path, **{missing: None}))
    assert result.returncode != 0
    message = result.stderr.strip().splitlines()[-1]
    assert f"missing {missing}" in message
    for other in set(REQUIRED) - {missing}:
        assert f"missing {other}" not in message and f", {other}" not in message


def test_it_starts_in_production_with_everything_given(tmp_path):
    """R-60: with every secret given, production starts, with DEBUG off and nothing generated."""
    env = production_env(tmp_path)
    result = start(
        tmp_path / "var",
        "from relance.keystore.services import master_keyring\n"
        "print(settings.DEBUG, settings.ALLOWED_HOSTS, settings.SESSION_COOKIE_SECURE, master_keyring().primary_id)\n"
        "print(sorted(db['ENGINE'] for db in settings.DATABASES.values()))\n",
        **env,
    )
    assert result.returncode == 0, result.stderr
    kid = env["RELANCE_MASTER_KEY"].split(":")[0]
    assert f"False ['relance.example.org'] True {kid}" in result.stdout
    assert "django.db.backends.sqlite3" in result.stdout
    assert "generated" not in result.stderr
    assert not (tmp_path / "var" / "secret_key").exists() and not (tmp_path / "var" / "master.key").exists()


def test_it_reads_secrets_from_files_in_production(tmp_path):
    """R-60, R-62: RELANCE_MASTER_KEY_FILE (and SECRET_KEY_FILE) replace the variables."""
    keyring = tmp_path / "keyring"
    keyring.write_text(f"# rotated last week\n{keyring_line('ops2')}\n{keyring_line('ops1')}\n")
    secret = tmp_path / "secret"
    secret.write_text("a-secret-key-from-a-file-0123456789-abcdefghijklmnop\n")
    env = production_env(tmp_path, RELANCE_MASTER_KEY=None, SECRET_KEY=None)
    result = start(
        tmp_path / "var",
        "from relance.keystore.services import master_keyring\n"
        "ring = master_keyring()\nprint(ring.primary_id, list(ring.keys), settings.SECRET_KEY[:20])\n",
        RELANCE_MASTER_KEY_FILE=str(keyring), SECRET_KEY_FILE=str(secret), **env,
    )
    assert result.returncode == 0, result.stderr
    assert "ops2 ['ops2', 'ops1'] a-secret-key-from-a" in result.stdout


def test_it_explains_an_unreadable_master_key_file(tmp_path):
    """R-60: a keyring file that cannot be read is named in the error."""
    missing = tmp_path / "nowhere" / "master.key"
    result = start(tmp_path / "var", RELANCE_MASTER_KEY_FILE=str(missing))
    assert result.returncode != 0
    assert f"RELANCE_MASTER_KEY_FILE points to '{missing}', which cannot be read" in result.stderr


def test_it_refuses_an_unknown_environment_name(tmp_path):
    """Settings: RELANCE_ENV is 'embedded' or 'production'; a typo does not fall back silently."""
    result = start(tmp_path / "var", RELANCE_ENV="prod")
    assert result.returncode != 0
    assert "RELANCE_ENV must be 'embedded' or 'production', not 'prod'" in result.stderr


# --- the embedded default ------------------------------------------------------------------
def test_it_generates_the_embedded_secrets_once_with_mode_600(tmp_path):
    """R-60: first start writes var/secret_key and var/master.key (mode 600) and says so;
    the second start reuses them."""
    var = tmp_path / "var"
    first = start(var, "from relance.keystore.services import master_keyring\nprint(master_keyring().primary_id)\n")
    assert first.returncode == 0, first.stderr
    secret_file, master_file = var / "secret_key", var / "master.key"
    for path in (secret_file, master_file):
        assert path.stat().st_mode & 0o777 == 0o600, path
        assert f"Relance: generated {path} (mode 600)" in first.stderr
    contents = {path: path.read_text() for path in (secret_file, master_file)}
    ring = crypto.parse_master_keyring(contents[master_file])
    assert first.stdout.strip() == ring.primary_id
    for value in contents.values():  # the secrets themselves are never printed
        assert value.strip() not in first.stderr + first.stdout
        assert value.strip().split(":")[-1] not in first.stderr + first.stdout

    second = start(var, "from relance.keystore.services import master_keyring\nprint(master_keyring().primary_id)\n")
    assert second.returncode == 0, second.stderr
    assert "generated" not in second.stderr
    assert second.stdout.strip() == ring.primary_id
    assert {path: path.read_text() for path in contents} == contents


def test_it_uses_a_given_master_key_file_instead_of_generating_one(tmp_path):
    """R-62: in the embedded default too, RELANCE_MASTER_KEY_FILE is read and var/master.key is not made."""
    keyring = tmp_path / "keyring"
    keyring.write_text(keyring_line("mine") + "\n")
    result = start(
        tmp_path / "var",
        "from relance.keystore.services import master_keyring\nprint(master_keyring().primary_id)\n",
        RELANCE_MASTER_KEY_FILE=str(keyring),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "mine"
    assert not (tmp_path / "var" / "master.key").exists()


def test_it_stops_on_a_garbage_boolean(tmp_path):
    """Settings: DEBUG=perhaps stops start-up with a message naming the variable and value."""
    result = start(tmp_path / "var", DEBUG="perhaps")
    assert result.returncode != 0
    assert "DEBUG must be true or false, not 'perhaps'" in result.stderr


# --- the env helpers -----------------------------------------------------------------------
@pytest.mark.parametrize("raw, expected", [("1", True), ("TRUE", True), (" yes ", True), ("on", True),
                                           ("0", False), ("false", False), ("No", False), ("off", False), ("", False)])
def test_it_reads_booleans(monkeypatch, raw, expected):
    """Settings: env_bool accepts the usual words, in any case."""
    monkeypatch.setenv("RELANCE_TEST_FLAG", raw)
    assert env_bool("RELANCE_TEST_FLAG", default=not expected) is expected


def test_it_uses_the_default_when_a_boolean_is_unset(monkeypatch):
    """Settings: an unset variable takes the default."""
    monkeypatch.delenv("RELANCE_TEST_FLAG", raising=False)
    assert env_bool("RELANCE_TEST_FLAG", default=True) is True
    assert env_bool("RELANCE_TEST_FLAG") is False


@pytest.mark.parametrize("raw", ["perhaps", "2", "tru", "y e s"])
def test_it_rejects_garbage_booleans_with_a_clear_message(monkeypatch, raw):
    """Settings: anything else is an error naming the variable and the value given."""
    monkeypatch.setenv("RELANCE_TEST_FLAG", raw)
    with pytest.raises(ValueError, match=f"RELANCE_TEST_FLAG must be true or false, not '{raw}'"):
        env_bool("RELANCE_TEST_FLAG")


def test_it_reads_whole_numbers_and_rejects_others(monkeypatch):
    """Settings: env_int takes whole numbers; a blank value takes the default."""
    monkeypatch.setenv("RELANCE_TEST_N", "42")
    assert env_int("RELANCE_TEST_N", 7) == 42
    monkeypatch.setenv("RELANCE_TEST_N", " ")
    assert env_int("RELANCE_TEST_N", 7) == 7
    monkeypatch.setenv("RELANCE_TEST_N", "eight hours")
    with pytest.raises(ValueError, match="RELANCE_TEST_N must be a whole number, not 'eight hours'"):
        env_int("RELANCE_TEST_N", 7)


def test_it_reads_lists_and_secret_files(monkeypatch, tmp_path):
    """Settings: comma lists drop blanks; env_secret reads NAME, else the file named by NAME_FILE."""
    monkeypatch.setenv("RELANCE_TEST_LIST", " a.example.org, ,b.example.org ")
    assert env_list("RELANCE_TEST_LIST", []) == ["a.example.org", "b.example.org"]
    monkeypatch.delenv("RELANCE_TEST_SECRET", raising=False)
    assert env_secret("RELANCE_TEST_SECRET") is None
    secret = tmp_path / "secret"
    secret.write_text("from-file\n")
    monkeypatch.setenv("RELANCE_TEST_SECRET_FILE", str(secret))
    assert env_secret("RELANCE_TEST_SECRET") == "from-file"
    monkeypatch.setenv("RELANCE_TEST_SECRET", "from-env")
    assert env_secret("RELANCE_TEST_SECRET") == "from-env"
