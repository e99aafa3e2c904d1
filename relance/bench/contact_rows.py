"""The COPY rows of generated contacts and of their data keys (`relance bench generate`), made in
worker processes: only the standard library and relance.lib.crypto here, so that a spawned process
needs no Django. Each contact's fields are sealed with its own new data key, bound to table, column
and row (R-60); the data key is wrapped by the organisation's wrap key; the keyed hashes (R-61) use
the organisation's index key."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from relance.lib import crypto


@dataclass(frozen=True)
class Chunk:
    org_pk: int
    scope: str
    version: int
    wrap_key: bytes
    index_key: bytes
    table: str
    batch: str  # the import batch
    start: int
    end: int
    seed: int
    now: datetime
    first_names: tuple[str, ...]
    last_names: tuple[tuple[str, str], ...]  # (last name, its search key: contacts.services.name_key)


@dataclass
class Rows:
    contacts: str  # COPY text of the contacts (CONTACT_COLUMNS' order)
    keys: str  # COPY text of the subject keys
    contact_ids: list[str]
    key_ids: list[str]
    data_keys: list[bytes]


def hexed(value: bytes | None) -> str:
    return "\\N" if value is None else "\\\\x" + value.hex()


def stamp(value: datetime | None) -> str:
    return "\\N" if value is None else value.isoformat()


def make(chunk: Chunk) -> Rows:
    rng = random.Random(chunk.seed)  # noqa: S311 - made-up data, reproducible by its seed
    out = Rows([], [], [], [], [])
    contacts, subject_keys = [], []
    now = stamp(chunk.now)
    org = str(chunk.org_pk)
    for n in range(chunk.start, chunk.end):
        contact_id, key_id, data_key = str(uuid.uuid4()), str(uuid.uuid4()), crypto.new_key()
        wrapped = crypto.seal(chunk.wrap_key, data_key, crypto.key_aad("subject", key_id))
        subject_keys.append(f"{key_id}\t{chunk.scope}\t{chunk.version}\t{hexed(wrapped)}\t{now}\n")
        first = rng.choice(chunk.first_names)
        last_name, last_key = rng.choice(chunk.last_names)
        last, search = f"{last_name}-{n % 997}", f"{last_key} {n % 997}"
        phone = f"+336{chunk.org_pk % 10}{n:07d}" if n < 10_000_000 else f"+337{n:08d}"
        email = f"p{n}.{chunk.org_pk}@example.org" if rng.random() < 0.6 else None
        sealed = {name: crypto.seal(data_key, value.encode(), crypto.field_aad(chunk.table, name, contact_id))
                  for name, value in (("first_name", first), ("last_name", last), ("phone", phone),
                                      ("email", email)) if value is not None}
        created = stamp(chunk.now - timedelta(days=rng.uniform(30, 1000)))
        language = "fr" if rng.random() < 0.92 else "en"
        contacts.append("\t".join([
            contact_id, org, key_id, hexed(sealed["first_name"]), hexed(sealed["last_name"]),
            hexed(sealed["phone"]), hexed(sealed.get("email")), crypto.blind_index(chunk.index_key, "phone", phone),
            crypto.blind_index(chunk.index_key, "email", email) if email else "\\N",
            crypto.blind_index(chunk.index_key, "last_name", search), "", language, "active", "t", "0", "t",
            "import", chunk.batch, created, created]) + "\n")
        out.contact_ids.append(contact_id)
        out.key_ids.append(key_id)
        out.data_keys.append(data_key)
    out.contacts, out.keys = "".join(contacts), "".join(subject_keys)
    return out
