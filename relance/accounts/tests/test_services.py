"""Services for organisations, users, memberships and API keys: validation, audit (R-65), R-61, R-64."""

import pytest
from django.contrib.auth.hashers import identify_hasher
from django.core.exceptions import ValidationError
from django.db import transaction

from relance.accounts import services
from relance.accounts.models import ApiKey, Membership, Organisation, User
from relance.audit.models import AuditEvent
from relance.audit.services import chain_for
from relance.testing import PASSWORD, SYSTEM, make_api_key, make_org, make_user

pytestmark = pytest.mark.django_db(databases=["default", "keys"])


def _actions(org):
    return list(AuditEvent.objects.filter(chain=chain_for(org)).order_by("seq").values_list("action", flat=True))


def test_it_creates_an_organisation_with_its_audit_event():
    """R-65: the creation is audited in the organisation's chain."""
    org = make_org("health")
    assert org.processes_health_data
    assert _actions(org)[0] == "organisation.created"


def test_it_names_every_invalid_field():
    """Errors name each bad field and say what to do."""
    with pytest.raises(ValidationError) as caught:
        services.create_organisation(actor=SYSTEM, name="X", slug="x", kind="bakery", time_zone="Mars/Olympus",
                                     languages=["de"], country="FRA")
    assert set(caught.value.message_dict) == {"kind", "time_zone", "languages", "country"}


def test_it_rejects_a_bad_dpo_phone_and_email():
    with pytest.raises(ValidationError) as caught:
        make_org(dpo_phone="12")
    assert "dpo_phone" in caught.value.message_dict
    with pytest.raises(ValidationError):
        make_org(dpo_email="not an address")


def test_it_normalises_the_dpo_phone_to_e164():
    org = make_org(dpo_phone="06 12 34 56 78")
    assert Organisation.objects.get(pk=org.pk).dpo_phone == "+33612345678"


def test_it_finds_users_by_email_without_storing_it_in_clear():
    """R-61: the e-mail is sealed; lookups go through the keyed hash, case-insensitively."""
    user = make_user(email="Jeanne.Martin@Example.org")
    found = services.find_user_by_email("  jeanne.martin@example.ORG ")
    assert found == user and found.email == "jeanne.martin@example.org"
    raw = User.objects.filter(pk=user.pk).values_list("email", "email_index").get()
    assert b"jeanne" not in bytes(raw[0]) and "jeanne" not in raw[1]


def test_it_hashes_passwords_with_argon2():
    """R-64: Argon2."""
    user = make_user()
    assert identify_hasher(user.password).algorithm == "argon2"
    assert user.check_password(PASSWORD)


def test_it_refuses_duplicate_users_and_weak_passwords():
    make_user(email="dup@example.org")
    with pytest.raises(ValidationError) as caught:
        make_user(email="DUP@example.org")
    assert "email" in caught.value.message_dict
    with pytest.raises(ValidationError):
        make_user(password="123456")


def test_it_lets_one_user_belong_to_several_organisations(world):
    """SPEC §2: answering-service secretaries work for many practices."""
    user = world.users_a["operator"]
    services.add_member(world.b, user, "operator", actor=SYSTEM)
    assert {m.organisation for m in services.memberships_of(user)} == {world.a, world.b}
    with pytest.raises(ValidationError):
        services.add_member(world.b, user, "admin", actor=SYSTEM)


def test_it_keeps_at_least_one_admin(world):
    admin = Membership.objects.for_org(world.a).get(role="admin")
    with pytest.raises(ValidationError):
        services.change_role(admin, "operator", actor=SYSTEM)
    with pytest.raises(ValidationError):
        services.remove_member(admin, actor=SYSTEM)
    services.add_member(world.a, make_user(), "admin", actor=SYSTEM)
    services.change_role(admin, "auditor", actor=SYSTEM)
    assert "member.role_changed" in _actions(world.a)


def test_it_shows_an_api_key_once_and_stores_only_a_hash(world):
    """API keys: shown once, hashed at rest with a visible prefix."""
    key, secret = make_api_key(world.a, ["contacts:read"])
    assert secret.startswith(f"rlk_{key.prefix}_")
    stored = ApiKey.objects.for_org(world.a).get(pk=key.pk)
    assert secret.split("_", 2)[2] not in (stored.secret_hash, stored.prefix)
    assert services.authenticate_api_key(secret) == key
    assert services.authenticate_api_key(secret + "x") is None
    assert services.authenticate_api_key("rlk_nope_nope") is None
    assert services.authenticate_api_key("") is None


def test_it_records_last_use_and_revocation(world):
    key, secret = make_api_key(world.a)
    services.authenticate_api_key(secret)
    assert ApiKey.objects.for_org(world.a).get(pk=key.pk).last_used_at is not None
    services.revoke_api_key(key, actor=SYSTEM)
    assert services.authenticate_api_key(secret) is None
    assert "apikey.revoked" in _actions(world.a)


def test_it_refuses_unknown_scopes(world):
    with pytest.raises(ValidationError) as caught:
        make_api_key(world.a, ["everything"])
    assert "scopes" in caught.value.message_dict


@pytest.mark.django_db(transaction=True, databases=["default", "keys"])
def test_it_writes_nothing_when_the_audit_event_cannot_be_written():
    """R-65: the change and its audit event commit together or not at all."""
    org = make_org()
    before = ApiKey.objects.for_org(org).count()
    with pytest.raises(ValueError), transaction.atomic():
        services.create_api_key(org, actor=SYSTEM, name="ok", scopes=[])
        from relance.audit.services import record

        record(org, SYSTEM, "test.bad", details={"who": "someone@example.org"})
    assert ApiKey.objects.for_org(org).count() == before
