"""Envelope encryption primitives (R-60, R-61). Pure functions on bytes: no database, no settings.

master key (environment) -> scope key (one per organisation, and one for the platform's own users)
-> data key (one per data subject) -> AES-256-GCM ciphertexts of that subject's fields.

Every ciphertext is bound by its associated data to where it lives ("table|column|row"), so a
value copied to another row or column fails to decrypt. Exact lookups use keyed hashes
(HMAC-SHA-256 under a per-scope index key) of a normalised value.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12
FORMAT_V1 = b"\x01"


class CryptoError(Exception):
    """A value could not be decrypted: wrong key, wrong place, or tampered."""


class MasterKeyError(ValueError):
    """The master keyring given in the environment or file is malformed."""


def new_key() -> bytes:
    return os.urandom(KEY_BYTES)


def seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return FORMAT_V1 + nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def open_sealed(key: bytes, sealed: bytes, aad: bytes) -> bytes:
    sealed = bytes(sealed)
    if len(sealed) < 1 + NONCE_BYTES + 16 or sealed[:1] != FORMAT_V1:
        raise CryptoError("not a Relance ciphertext")
    nonce, body = sealed[1 : 1 + NONCE_BYTES], sealed[1 + NONCE_BYTES :]
    try:
        return AESGCM(key).decrypt(nonce, body, aad)
    except InvalidTag:
        raise CryptoError("ciphertext does not belong here or was altered") from None


def field_aad(table: str, column: str, row_id: str) -> bytes:
    return f"relance:field:{table}|{column}|{row_id}".encode()


def key_aad(kind: str, ident: str) -> bytes:
    """Associated data for a wrapped key, so a wrapped key cannot be swapped for another."""
    return f"relance:key:{kind}|{ident}".encode()


def blind_index(index_key: bytes, kind: str, normalised_value: str) -> str:
    """Keyed hash for exact lookups; `kind` separates phone, e-mail, reference... namespaces."""
    if "\x00" in kind:  # the separator: ("a", "b\0c") and ("a\0b", "c") would collide
        raise ValueError("a blind-index kind cannot contain NUL")
    mac = hmac.new(index_key, f"{kind}\x00{normalised_value}".encode(), hashlib.sha256)
    return mac.hexdigest()


def normalise_email(value: str) -> str:
    return value.strip().lower()


# --- the master keyring --------------------------------------------------------------------
@dataclass(frozen=True)
class MasterKeyring:
    """Master keys by id; the first one given is primary (used to wrap), the others only unwrap."""

    primary_id: str
    keys: dict[str, bytes]

    def key(self, kid: str) -> bytes:
        try:
            return self.keys[kid]
        except KeyError:
            raise CryptoError(f"master key {kid!r} is not in the configured keyring") from None


def _decode_key(text: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise MasterKeyError("a master key is not valid base64") from None
    if len(raw) != KEY_BYTES:
        raise MasterKeyError(f"a master key must be {KEY_BYTES} bytes, this one has {len(raw)}")
    return raw


KEY_ID_MAX = 32  # ScopeKey.master_key_id
_KEY_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


def _check_key_id(kid: str) -> str:
    if len(kid) > KEY_ID_MAX or not set(kid) <= _KEY_ID_CHARS:
        raise MasterKeyError(f"a master key id has at most {KEY_ID_MAX} letters, digits, '.', '_' or '-'")
    return kid


def parse_master_keyring(text: str) -> MasterKeyring:
    """Parse 'kid:base64' entries separated by newlines or commas; a bare key gets a derived id.

    Lines starting with '#' are comments (they may contain commas).
    """
    lines = [line.strip() for line in text.splitlines()]
    entries = [part.strip() for line in lines if not line.startswith("#") for part in line.split(",")]
    keys: dict[str, bytes] = {}
    order: list[str] = []
    for entry in entries:
        if not entry:
            continue
        kid, sep, encoded = entry.partition(":")
        if not sep:
            encoded, kid = kid, ""
        raw = _decode_key(encoded.strip())
        kid = _check_key_id(kid.strip()) or "m" + hashlib.sha256(raw).hexdigest()[:8]
        if kid in keys:
            raise MasterKeyError(f"master key id {kid!r} appears twice")
        keys[kid] = raw
        order.append(kid)
    if not order:
        raise MasterKeyError("no master key found")
    return MasterKeyring(primary_id=order[0], keys=keys)


def new_master_key_line() -> str:
    kid = "m" + secrets.token_hex(4)
    return f"{kid}:{base64.urlsafe_b64encode(new_key()).decode().rstrip('=')}"
