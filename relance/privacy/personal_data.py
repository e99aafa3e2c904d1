"""THE list of what Relance holds about a data subject (pretix's shredder idea, without plugins).

Every model that holds a contact's data, or points at a contact, is one `Holding` here. For each:
- `category`: the R-42 heading it appears under in an access export;
- `export`: what the access export takes from it (see privacy/exports.py, one function per key);
- `erasure`: what erasure does with it (privacy/erasure.py, one function per key):
  `delete` the rows, `shred` (rows kept, their sealed fields unreadable once the data key is
  destroyed, personal columns cleared), or `keep` with the legal reason in `kept_because`.

A test walks Django's models and fails when a model that points at Contact, or seals data with a
subject key, is missing here; another fails when exports.py or erasure.py lacks a handler for a key.
"""

from __future__ import annotations

from dataclasses import dataclass

DELETE, SHRED, KEEP = "delete", "shred", "keep"


@dataclass(frozen=True)
class Holding:
    key: str  # handler name in exports.py / erasure.py
    model: str  # app_label.ModelName
    category: str  # R-42 heading: contact, messages, replies, consent, events, requests, exports, breaches
    erasure: str  # DELETE, SHRED or KEEP
    kept_because: str = ""  # for SHRED/KEEP: why the row (not its content) stays


HOLDINGS: tuple[Holding, ...] = (
    Holding("contact", "contacts.Contact", "contact", SHRED,
            "a tombstone (id, status 'erased', dates) keeps the consent ledger's references and the "
            "proof that the erasure was done; every personal column is cleared and the data key destroyed"),
    Holding("suppression", "contacts.SuppressionEntry", "contact", KEEP,
            "R-31/R-43: the keyed hash of the number stays so that a later import never re-enrols the person"),
    Holding("messages", "messaging.Message", "messages", DELETE),
    Holding("message_events", "messaging.MessageEvent", "messages", DELETE),
    Holding("inbound", "messaging.InboundMessage", "replies", DELETE),
    Holding("events", "reminders.Event", "events", DELETE),
    Holding("consent_events", "consent.ConsentEvent", "consent", SHRED,
            "Art. 7(1) and R-11: the ledger must show consent was obtained and the hash chain must verify; "
            "evidence is sealed with the destroyed key, the rows hold ids, codes and times only, and retention "
            "(consent_proofs) deletes them"),
    Holding("consent_states", "consent.ConsentState", "consent", DELETE),
    Holding("information", "consent.Information", "consent", DELETE),
    Holding("requests", "privacy.RightsRequest", "requests", SHRED,
            "Art. 5(2) accountability: the request's kind, dates and outcome prove it was answered; the "
            "person's own words are sealed with the destroyed key"),
    Holding("exports", "privacy.AccessExport", "exports", DELETE),
    Holding("breach_subjects", "privacy.BreachSubject", "breaches", DELETE),
    Holding("verification_codes", "privacy.VerificationCode", "requests", DELETE),
)

BY_KEY = {holding.key: holding for holding in HOLDINGS}
BY_MODEL = {holding.model: holding for holding in HOLDINGS}

# Models that point at Contact or seal data but hold nothing about a data subject.
NOT_PERSONAL = {
    "accounts.Organisation": "the controller; the DPO's details are the DPO's, erased with the organisation",
    "accounts.User": "staff users, not data subjects of the organisation (their own erasure is an account deletion)",
    "providers.ProviderAccount": "an organisation's provider credentials",
    "webhooks.WebhookEndpoint": "an organisation's endpoint and signing secret",
}
