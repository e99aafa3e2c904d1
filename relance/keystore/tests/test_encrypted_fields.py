"""Encrypted model fields on real models: Organisation's DPO fields and User's e-mail and name.

R-60 (AES-256-GCM per subject key, bound to table/column/row), R-61 (no clear personal data in the
database), crypto-shredding by destroying the subject key.
"""

from __future__ import annotations

import pytest
from django.db import transaction

from relance.accounts import services as accounts
from relance.accounts.models import Organisation, User
from relance.keystore import services as keys
from relance.keystore.models import SubjectKey
from relance.keystore.services import KeyDestroyed
from relance.lib.crypto import CryptoError
from relance.testing import SYSTEM, make_org, make_user

from .helpers import copy_column, dump_default_database, raw_column

pytestmark = pytest.mark.django_db(databases=["default", "keys"])

DPO = {"dpo_name": "Héloïse Marchetti", "dpo_email": "heloise.marchetti@example.org", "dpo_phone": "06 12 34 56 78"}
DPO_PHONE_E164 = "+33612345678"


def read(instance, field: str):
    """Read a sealed attribute (decrypts, may raise)."""
    return getattr(instance, field)


def fresh(model, pk):
    keys.clear_caches()
    return model.objects.get(pk=pk)


def test_it_stores_no_clear_value_in_the_sealed_columns():
    """R-60, R-61: the stored bytes of each sealed field hold no clear value."""
    org = make_org(**DPO)
    user = make_user(org, password=None, email="Zoe.Quintard@example.org", full_name="Zoé Quintard")
    for model, pk, column, clear in [
        (Organisation, org.pk, "dpo_name", DPO["dpo_name"]),
        (Organisation, org.pk, "dpo_email", DPO["dpo_email"]),
        (Organisation, org.pk, "dpo_phone", DPO_PHONE_E164),
        (User, user.pk, "email", "zoe.quintard@example.org"),
        (User, user.pk, "full_name", "Zoé Quintard"),
    ]:
        stored = raw_column(model, pk, column)
        assert stored and stored[:1] == b"\x01", column
        assert clear.encode() not in stored and clear.lower().encode() not in stored, column
        assert getattr(fresh(model, pk), column) == clear


def test_it_leaves_no_clear_personal_data_in_a_dump_of_the_main_database():
    """R-61: a dump of every table of the main database holds no clear name, e-mail or phone."""
    org = make_org(**DPO)
    make_user(org, password=None, email="marius.okonkwo@example.org", full_name="Marius Okonkwo")
    dump = dump_default_database().lower()
    for clear in ["Héloïse", "Marchetti", "heloise.marchetti", DPO_PHONE_E164, "612345678", "Okonkwo", "marius.okonkwo"]:
        assert clear.lower().encode() not in dump, clear


def test_it_keeps_subject_keys_in_the_key_store_and_the_organisation_key_in_its_scope():
    """R-60: each subject's data key lives in the key store, under its organisation's scope."""
    org_a, org_b = make_org(**DPO), make_org(**DPO)
    user = make_user(password=None)
    assert SubjectKey.objects.get(id=org_a.data_key_id).scope == keys.org_scope(org_a.pk)
    assert SubjectKey.objects.get(id=org_b.data_key_id).scope == keys.org_scope(org_b.pk)
    assert SubjectKey.objects.get(id=user.data_key_id).scope == keys.PLATFORM_SCOPE
    assert not SubjectKey.objects.filter(scope="org:None").exists()
    assert len({org_a.data_key_id, org_b.data_key_id, user.data_key_id}) == 3


def test_it_refuses_a_ciphertext_copied_to_another_users_row():
    """R-60: a sealed e-mail copied into another user's row does not decrypt there."""
    alice, bob = make_user(password=None, full_name="Alice Lemaire"), make_user(password=None, full_name="Bob Ferrand")
    copy_column(User, alice.pk, "email", bob.pk)
    with pytest.raises(CryptoError):
        read(fresh(User, bob.pk), "email")
    assert fresh(User, bob.pk).full_name == "Bob Ferrand"


def test_it_refuses_a_ciphertext_copied_with_its_key_id_to_another_row():
    """R-60: even with the data key id copied too, the row id in the associated data stops it."""
    alice, bob = make_user(password=None), make_user(password=None)
    copy_column(User, alice.pk, "email", bob.pk)
    User.objects.filter(pk=bob.pk).update(data_key_id=alice.data_key_id)
    with pytest.raises(CryptoError):
        read(fresh(User, bob.pk), "email")


def test_it_refuses_a_ciphertext_copied_to_another_organisation():
    """R-60: a DPO e-mail copied into another organisation's row does not decrypt there."""
    org_a, org_b = make_org(**DPO), make_org(dpo_email="other@example.org")
    copy_column(Organisation, org_a.pk, "dpo_email", org_b.pk)
    with pytest.raises(CryptoError):
        read(fresh(Organisation, org_b.pk), "dpo_email")


def test_it_refuses_a_ciphertext_copied_to_another_column_of_the_same_row():
    """R-60: same row, same data key, other column: the column name in the associated data stops it."""
    user = make_user(password=None, full_name="Camille Duret")
    copy_column(User, user.pk, "email", user.pk, "full_name")
    with pytest.raises(CryptoError):
        read(fresh(User, user.pk), "full_name")
    org = make_org(**DPO)
    copy_column(Organisation, org.pk, "dpo_name", org.pk, "dpo_email")
    with pytest.raises(CryptoError):
        read(fresh(Organisation, org.pk), "dpo_email")


def test_it_makes_the_data_unreadable_once_the_subject_key_is_destroyed():
    """R-60: crypto-shredding: destroying the data key makes every sealed field unreadable for good."""
    keep = make_user(password=None, full_name="Kept Person")
    gone = make_user(password=None, full_name="Erased Person")
    assert keys.destroy_subject_key(gone.data_key_id) is True
    with pytest.raises(KeyDestroyed):  # evicted from this process's cache at once
        read(User.objects.get(pk=gone.pk), "email")
    for _ in range(2):
        with pytest.raises(KeyDestroyed):
            read(fresh(User, gone.pk), "full_name")
    assert fresh(User, keep.pk).full_name == "Kept Person"
    assert keys.destroy_subject_key(gone.data_key_id) is False


def test_it_shreds_an_organisations_dpo_fields():
    """R-60: the DPO's details are shredded with their key, the organisation itself stays."""
    org = make_org(**DPO)
    keys.destroy_subject_key(org.data_key_id)
    reloaded = fresh(Organisation, org.pk)
    assert reloaded.slug == org.slug
    with pytest.raises(KeyDestroyed):
        read(reloaded, "dpo_name")


def test_it_refreshes_from_the_database_without_decrypting():
    """R-60: refresh_from_db keeps the sealed bytes (works after shredding, rewrites nothing)."""
    user = make_user(password=None, full_name="Noor Haddad")
    before = raw_column(User, user.pk, "full_name")
    user.refresh_from_db()
    user.save()
    assert raw_column(User, user.pk, "full_name") == before
    assert user.full_name == "Noor Haddad"
    keys.destroy_subject_key(user.data_key_id)
    user.refresh_from_db()
    with pytest.raises(KeyDestroyed):
        read(user, "full_name")


def test_it_round_trips_a_changed_value():
    """R-60: a value changed and saved is sealed again and reads back changed."""
    user = make_user(password=None, full_name="Old Name")
    before = raw_column(User, user.pk, "full_name")
    user = fresh(User, user.pk)
    user.full_name = "Zoë Ångström 李小龍 🙂"
    user.save()
    assert raw_column(User, user.pk, "full_name") != before
    assert fresh(User, user.pk).full_name == "Zoë Ångström 李小龍 🙂"
    org = make_org(**DPO)
    accounts.update_organisation(fresh(Organisation, org.pk), actor=SYSTEM, dpo_email="New.Dpo@Example.org")
    reloaded = fresh(Organisation, org.pk)
    assert (reloaded.dpo_email, reloaded.dpo_name) == ("new.dpo@example.org", DPO["dpo_name"])


def test_it_keeps_none_as_none():
    """R-60: an empty field stays NULL (nothing sealed), and can be emptied again."""
    org = make_org(dpo_name=None, dpo_email=None)
    assert org.data_key_id is None  # nothing personal: no data key
    for column in ("dpo_name", "dpo_email", "dpo_phone"):
        assert raw_column(Organisation, org.pk, column) is None
        assert getattr(fresh(Organisation, org.pk), column) is None
    org = make_org(**DPO)
    accounts.update_organisation(fresh(Organisation, org.pk), actor=SYSTEM, dpo_phone="")
    assert raw_column(Organisation, org.pk, "dpo_phone") is None
    assert fresh(Organisation, org.pk).dpo_phone is None
    assert fresh(Organisation, org.pk).dpo_name == DPO["dpo_name"]


def test_it_seals_fields_given_before_the_first_save():
    """R-60: an organisation built with its DPO fields gets its key in its own scope on insert."""
    org = Organisation(name="Direct", slug="direct-build", kind="library", dpo_name="Inès Vidal")
    org.save()
    assert SubjectKey.objects.get(id=org.data_key_id).scope == keys.org_scope(org.pk)
    assert fresh(Organisation, org.pk).dpo_name == "Inès Vidal"


def test_it_refuses_clear_text_through_update_and_filters():
    """R-61: update(), bulk_update() and filters cannot write or compare clear text in a sealed column."""
    user = make_user(password=None)
    with pytest.raises(TypeError, match="sealed"), transaction.atomic():
        User.objects.filter(pk=user.pk).update(full_name="Clear Text")
    with pytest.raises(TypeError, match="sealed"), transaction.atomic():
        list(User.objects.filter(full_name="Clear Text"))
    user.full_name = "Other"
    with pytest.raises(TypeError, match="sealed"), transaction.atomic():
        User.objects.bulk_update([user], ["full_name"])
    assert b"Clear Text" not in dump_default_database()


def test_it_validates_a_model_with_sealed_values():
    """R-60: full_clean() sees the clear text and does not try to decode it as base64."""
    org = fresh(Organisation, make_org(**DPO).pk)
    org.full_clean()
    assert org.dpo_name == DPO["dpo_name"]


def test_it_refuses_to_assign_something_else_than_text():
    """R-60: sealed fields take text (or None)."""
    user = make_user(password=None)
    with pytest.raises(TypeError, match="takes text"):
        user.full_name = 42
