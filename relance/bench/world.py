"""The bench's own organisation: a purpose, a template, informed contacts and due messages.

Built through the services where they exist (organisation, purpose, notices, information record,
the outbox's `build` and `enqueue_many`), in bulk where one-by-one would take longer than the
measure itself (contacts and their data keys): every personal field is still sealed with the
contact's own key (R-60) and the phone number has its keyed-hash index (R-61), as the model requires.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from relance.accounts import services as accounts
from relance.accounts.models import Organisation
from relance.audit.services import Actor
from relance.consent import services as consent
from relance.consent.models import Purpose
from relance.contacts.models import Contact
from relance.contacts.services import index_for
from relance.keystore import services as keys
from relance.keystore.fields import seal_now, stored_values
from relance.keystore.models import ScopeKey, SubjectKey
from relance.lib import crypto
from relance.messaging import outbox
from relance.messaging.models import Message, MessageEvent, SendingSettings, Template

BENCH = Actor.system("bench")
SMS_BODY = "Bonjour {first_name}, rappel : {org} vous attend {date} à {time}. {stop}"
NOTICE = {"fr": "Information : responsable, finalité, base légale, durée, droits, STOP, réclamation CNIL.",
          "en": "Notice: controller, purpose, legal basis, retention, rights, STOP, complaint to the CNIL."}
CHUNK = 2000

Progress = Callable[[str], None]


@dataclass
class World:
    org: Organisation
    purpose: Purpose
    template: Template
    contacts: int
    messages: int
    people: list[Contact]


def create_org(tag: str = "") -> Organisation:
    slug = f"bench-{tag or uuid.uuid4().hex[:8]}"
    org = accounts.create_organisation(actor=BENCH, name=f"Bench {slug}", slug=slug, kind="library",
                                       dpo_name="Bench Dpo", dpo_email="dpo@bench.invalid")
    # Open all day, so that the measure does not depend on the hour it runs at; the window is still
    # computed for every message, it is simply open. (23:59–00:00 stays closed: a run in that
    # minute defers its messages, and the result says so in `statuses`.)
    # A sender of its own: a STOP to it concerns this organisation only (R-31 scope).
    SendingSettings.objects.for_org(org).create(organisation=org, sms_sender=sender_of(org), stop_mention="STOP au 36111",
                                                windows={"service": {"start": "00:00", "end": "23:59"}})
    return org


def sender_of(org: Organisation) -> str:
    return ("B" + org.slug.removeprefix("bench-"))[:11]


def create_purpose(org: Organisation) -> Purpose:
    purpose = consent.create_purpose(
        org, actor=BENCH, code="bench-reminders", label_fr="Rappels (bench)", label_en="Reminders (bench)",
        message_class="service", legal_basis="public_task", data_categories=["identity", "contact", "loan"],
        recipients=["Staff", "Relance (processor)"], retention="4 months", retention_days=120, channels=["sms", "email"])
    for language, text in NOTICE.items():
        consent.publish_notice(purpose, actor=BENCH, language=language, text=text)
    return consent.activate_purpose(purpose, actor=BENCH)


def create_contacts(org: Organisation, count: int, batch_id: uuid.UUID, progress: Progress) -> list[Contact]:
    """`count` contacts of one import batch, their data keys and sealed fields written in bulk."""
    scope = org.crypto_scope()
    version, wrap_key = keys.scope_key(scope, ScopeKey.WRAP)
    created = []
    for start in range(0, count, CHUNK):
        subject_keys, contacts = [], []
        for n in range(start, min(count, start + CHUNK)):
            key_id, data_key = uuid.uuid4(), crypto.new_key()
            subject_keys.append(SubjectKey(id=key_id, scope=scope, wrap_version=version,
                                           wrapped=crypto.seal(wrap_key, data_key, crypto.key_aad("subject", str(key_id)))))
            keys._subject_cache.put(key_id, data_key)
            phone = f"+336{10_000_000 + n:08d}"
            contact = Contact(id=uuid.uuid4(), organisation=org, data_key_id=key_id, language="fr", source="import",
                              import_batch_id=batch_id, phone_index=index_for(org, "phone", phone))
            contact.first_name, contact.last_name, contact.phone = f"Prénom{n}", f"Nom{n}", phone
            seal_now(contact, "first_name", "last_name", "phone")
            contacts.append(contact)
        SubjectKey.objects.bulk_create(subject_keys)
        with stored_values():
            Contact.objects.bulk_create(contacts)
        created += contacts
        progress(f"contacts {len(created)}/{count}")
    return created


def inform_batch(purpose: Purpose, batch_id: uuid.UUID) -> None:
    """R-04: the import batch was told about the purpose (one information record for all)."""
    consent.record_information(purpose, consent.current_notice(purpose, "fr"), actor=BENCH, method="import",
                               import_batch_id=batch_id, source="bench import")


def due_messages(purpose, template, contacts: list[Contact], *, first: int = 0, step: int = 1) -> list[Message]:
    """One reminder due now for each contact (not saved)."""
    now = timezone.now()
    params = {"starts_at": (now + timedelta(days=2)).isoformat()}
    return [outbox.build(contact, purpose, "sms", template=template, due_at=now - timedelta(seconds=1),
                         valid_until=now + timedelta(days=1), source="event", source_id=f"bench-{n}", step=step,
                         params=params)
            for n, contact in enumerate(contacts, first)]


def enqueue_messages(org, purpose, template, contacts: list[Contact], progress: Progress) -> int:
    done = 0
    for start in range(0, len(contacts), CHUNK):
        with transaction.atomic():
            built = due_messages(purpose, template, contacts[start:start + CHUNK], first=start)
            outbox.enqueue_many(built, decided=True)
        done += len(built)
        progress(f"messages {done}/{len(contacts)}")
    return done


def build(count: int, progress: Progress, tag: str = "", *, messages: bool = True) -> World:
    org = create_org(tag)
    purpose = create_purpose(org)
    template = Template.objects.create(organisation=org, purpose=purpose, code="rappel", channel="sms", language="fr",
                                       body=SMS_BODY)
    batch_id = uuid.uuid4()
    inform_batch(purpose, batch_id)
    contacts = create_contacts(org, count, batch_id, progress)
    if messages:
        enqueue_messages(org, purpose, template, contacts, progress)
    return World(org, purpose, template, len(contacts), count if messages else 0, contacts)


def requeue(org: Organisation) -> int:
    """Every bench message due again, as it was before the run (the next measure starts equal)."""
    with transaction.atomic():
        MessageEvent.objects.for_org(org).exclude(kind="scheduled").delete()
        return Message.objects.for_org(org).update(
            status=Message.Status.SCHEDULED, claimed_by="", claimed_at=None, attempts=0, sent_at=None, provider="",
            provider_ref="", reason="", rule="", body=None, encoding="", segments=None, sender="", finished_at=None,
            due_at=timezone.now() - timedelta(minutes=1))


def statuses(org: Organisation) -> dict[str, int]:
    from django.db.models import Count

    rows = Message.objects.for_org(org).values_list("status").annotate(n=Count("id"))
    return {status: n for status, n in rows}


def clean_up(org: Organisation, progress: Progress) -> None:
    """Delete the bench's messages, contacts and their keys. The organisation, its purpose, its audit
    trail and its consent ledger stay (both are append-only): contacts the ledger names (the STOP
    bench's objections) are kept as erased rows, their keys destroyed like every other (R-60)."""
    from relance.consent.models import ConsentEvent, Information

    key_ids = list(Contact.objects.for_org(org).values_list("data_key_id", flat=True))
    in_ledger = set(ConsentEvent.objects.for_org(org).values_list("contact_id", flat=True))
    with transaction.atomic():
        MessageEvent.objects.for_org(org).delete()
        Message.objects.for_org(org).delete()
        Information.objects.for_org(org).delete()
        Contact.objects.for_org(org).exclude(pk__in=in_ledger).delete()
        Contact.objects.for_org(org).filter(pk__in=in_ledger).update(status=Contact.Status.ERASED, data_key_id=None,
                                                                     first_name=None, last_name=None, phone=None)
        SendingSettings.objects.for_org(org).update(sms_sender="")  # no later reply reaches it
    for start in range(0, len(key_ids), 5000):
        SubjectKey.objects.filter(id__in=key_ids[start:start + 5000]).delete()
    progress(f"cleaned up {org.slug}: {len(key_ids)} contacts and their keys deleted")


def describe(world: World) -> dict:
    return {"organisation": world.org.slug, "contacts": world.contacts, "messages": world.messages}
