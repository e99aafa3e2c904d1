"""Envelope-encryption primitives and the master keyring (R-60, R-61, R-62). No database."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relance.lib import crypto
from relance.lib.crypto import CryptoError, MasterKeyError

AAD = crypto.field_aad("contacts_contact", "phone", "3f1c")
unicode_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=300)


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def key_text(fill: int) -> str:
    return b64(bytes([fill]) * crypto.KEY_BYTES)


# --- seal / open ---------------------------------------------------------------------------
@given(text=unicode_text)
def test_it_round_trips_any_text(text):
    """R-60: what is sealed opens to the same text, whatever the script (accents, emoji, CJK)."""
    key = crypto.new_key()
    sealed = crypto.seal(key, text.encode(), AAD)
    assert crypto.open_sealed(key, sealed, AAD).decode() == text


@given(text=unicode_text.filter(lambda t: len(t.encode()) >= 4))
def test_it_never_shows_the_clear_text_in_the_ciphertext(text):
    """R-61: the stored bytes do not contain the clear value."""
    sealed = crypto.seal(crypto.new_key(), text.encode(), AAD)
    assert text.encode() not in sealed


def test_it_uses_a_fresh_nonce_each_time():
    """R-60: sealing the same value twice gives different ciphertexts (AES-GCM nonce is random)."""
    key = crypto.new_key()
    assert crypto.seal(key, b"+33612345678", AAD) != crypto.seal(key, b"+33612345678", AAD)


def test_it_accepts_memoryview_from_the_database():
    """R-60: drivers hand BinaryField values back as memoryview; they open like bytes."""
    key = crypto.new_key()
    sealed = crypto.seal(key, b"value", AAD)
    assert crypto.open_sealed(key, memoryview(sealed), AAD) == b"value"


def test_it_refuses_another_place():
    """R-60: a ciphertext bound to one row or column does not open anywhere else."""
    key = crypto.new_key()
    sealed = crypto.seal(key, b"secret", AAD)
    for aad in (
        crypto.field_aad("contacts_contact", "phone", "other-row"),
        crypto.field_aad("contacts_contact", "email", "3f1c"),
        crypto.field_aad("accounts_user", "phone", "3f1c"),
        b"",
    ):
        with pytest.raises(CryptoError):
            crypto.open_sealed(key, sealed, aad)


@pytest.mark.parametrize("position", [0, 1, 12, 13, -1])
def test_it_detects_a_tampered_byte(position):
    """R-60: changing any byte (format, nonce, body, tag) makes the value unreadable."""
    key = crypto.new_key()
    sealed = bytearray(crypto.seal(key, b"a message body", AAD))
    sealed[position] ^= 0x01
    with pytest.raises(CryptoError):
        crypto.open_sealed(key, bytes(sealed), AAD)


def test_it_refuses_a_truncated_value():
    """R-60: a value too short to be a ciphertext is reported, not crashed on."""
    with pytest.raises(CryptoError, match="not a Relance ciphertext"):
        crypto.open_sealed(crypto.new_key(), b"\x01short", AAD)


def test_it_refuses_the_wrong_key():
    """R-60: without the right data key the value cannot be read (crypto-shredding relies on it)."""
    sealed = crypto.seal(crypto.new_key(), b"secret", AAD)
    with pytest.raises(CryptoError):
        crypto.open_sealed(crypto.new_key(), sealed, AAD)


def test_it_binds_wrapped_keys_to_their_identity():
    """R-60, R-62: a wrapped key cannot be swapped for another subject's or another version's."""
    master, data_key = crypto.new_key(), crypto.new_key()
    wrapped = crypto.seal(master, data_key, crypto.key_aad("subject", "a"))
    assert crypto.open_sealed(master, wrapped, crypto.key_aad("subject", "a")) == data_key
    with pytest.raises(CryptoError):
        crypto.open_sealed(master, wrapped, crypto.key_aad("subject", "b"))
    with pytest.raises(CryptoError):
        crypto.open_sealed(master, wrapped, crypto.key_aad("scope", "a"))


# --- the master keyring --------------------------------------------------------------------
def test_it_parses_id_and_key_lines():
    """R-60, R-62: 'kid:base64' lines; the first key is the primary one (it wraps), the rest unwrap."""
    ring = crypto.parse_master_keyring(f"new:{key_text(1)}\nold:{key_text(2)}\n")
    assert ring.primary_id == "new"
    assert ring.key("new") == bytes([1]) * 32
    assert ring.key("old") == bytes([2]) * 32


def test_it_parses_comma_separated_keys_as_in_an_environment_variable():
    """R-62: RELANCE_MASTER_KEY="new:...,old:..." holds the whole keyring on one line."""
    ring = crypto.parse_master_keyring(f" new:{key_text(1)} , old:{key_text(2)} ")
    assert list(ring.keys) == ["new", "old"]
    assert ring.primary_id == "new"


def test_it_accepts_standard_and_padded_base64():
    """R-60: keys made with `openssl rand -base64 32` (with '+', '/' and '=') are accepted."""
    raw = bytes(range(200, 232))
    ring = crypto.parse_master_keyring("k:" + base64.b64encode(raw).decode())
    assert ring.key("k") == raw


def test_it_gives_a_bare_key_a_stable_derived_id():
    """R-60: a single key without id (the simplest setting) gets an id derived from the key."""
    first = crypto.parse_master_keyring(key_text(7))
    again = crypto.parse_master_keyring(key_text(7) + "\n")
    other = crypto.parse_master_keyring(key_text(8))
    assert first.primary_id == again.primary_id != other.primary_id
    assert first.primary_id.startswith("m")


def test_it_skips_comments_and_blank_lines():
    """R-62: operators annotate the keyring file; comments may contain commas and colons."""
    text = f"# rotated 2026-11-22, old key kept: one week\n\nnew:{key_text(1)}\n  # old one\nold:{key_text(2)}\n"
    ring = crypto.parse_master_keyring(text)
    assert list(ring.keys) == ["new", "old"]


def test_it_refuses_a_duplicate_id():
    """R-62: two keys with one id would make unwrapping ambiguous."""
    with pytest.raises(MasterKeyError, match="'k' appears twice"):
        crypto.parse_master_keyring(f"k:{key_text(1)}\nk:{key_text(2)}")


@pytest.mark.parametrize("size", [0, 16, 31, 33, 64])
def test_it_refuses_a_key_of_the_wrong_length(size):
    """R-60: AES-256 needs exactly 32 bytes; the message says how many were given."""
    with pytest.raises(MasterKeyError, match=f"must be 32 bytes, this one has {size}"):
        crypto.parse_master_keyring("k:" + b64(b"x" * size))


def test_it_refuses_an_empty_keyring():
    """R-60: no key at all is an error, not an empty keyring."""
    with pytest.raises(MasterKeyError, match="no master key"):
        crypto.parse_master_keyring("# nothing here\n\n")


def test_it_refuses_a_key_id_that_does_not_fit_the_key_store():
    """R-62: ids are stored in ScopeKey.master_key_id (32 characters)."""
    with pytest.raises(MasterKeyError, match="at most 32"):
        crypto.parse_master_keyring(f"{'k' * 33}:{key_text(1)}")
    with pytest.raises(MasterKeyError, match="at most 32"):
        crypto.parse_master_keyring(f"my key:{key_text(1)}")


def test_it_names_an_unknown_master_key():
    """R-62: a scope key wrapped by a key removed too early says which key is missing."""
    ring = crypto.parse_master_keyring(f"new:{key_text(1)}")
    with pytest.raises(CryptoError, match="'old' is not in the configured keyring"):
        ring.key("old")


def test_it_generates_keyring_lines_it_can_parse():
    """R-62: `keys rotate --master --generate` writes lines the parser reads back."""
    line = crypto.new_master_key_line()
    ring = crypto.parse_master_keyring(line)
    assert ring.primary_id == line.split(":")[0]
    assert len(ring.key(ring.primary_id)) == 32
    assert crypto.new_master_key_line() != line


# --- blind indexes -------------------------------------------------------------------------
def test_it_computes_a_stable_blind_index():
    """R-61: the same value gives the same keyed hash, so exact lookups work."""
    key = crypto.new_key()
    value = crypto.normalise_email("  Alice@Example.ORG ")
    assert crypto.blind_index(key, "email", value) == crypto.blind_index(key, "email", "alice@example.org")
    assert len(crypto.blind_index(key, "email", value)) == 64


def test_it_makes_the_blind_index_depend_on_the_key():
    """R-61: another organisation's index key gives another hash (no cross-tenant correlation)."""
    value = "+33612345678"
    assert crypto.blind_index(crypto.new_key(), "phone", value) != crypto.blind_index(crypto.new_key(), "phone", value)


def test_it_separates_blind_index_kinds():
    """R-61: a phone index never matches an e-mail or reference index of the same text."""
    key = crypto.new_key()
    assert crypto.blind_index(key, "phone", "12345") != crypto.blind_index(key, "reference", "12345")
    with pytest.raises(ValueError, match="NUL"):  # else ("a", "b\0c") and ("a\0b", "c") would collide
        crypto.blind_index(key, "a\x00b", "c")


@given(value=unicode_text)
def test_it_never_shows_the_value_in_the_blind_index(value):
    """R-61: the index is a hex HMAC, never the value itself."""
    digest = crypto.blind_index(b"k" * 32, "email", value)
    assert len(digest) == 64 and set(digest) <= set("0123456789abcdef")
