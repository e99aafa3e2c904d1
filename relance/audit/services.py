"""Writing audit events (R-65). Call `record()` inside the service's own transaction."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from relance.lib.logs import looks_personal
from relance.lib.net import truncate_ip

from .chain import GENESIS, first_break, hashed_fields, row_digest
from .models import AuditEvent, ChainHead

PLATFORM_CHAIN = "platform"


@dataclass(frozen=True)
class Actor:
    """Who did it: never a name or an e-mail, only a kind and an id."""

    kind: str
    id: str = ""
    ip: str = ""

    @classmethod
    def system(cls, name: str = "relance") -> Actor:
        return cls("system", name)

    @classmethod
    def user(cls, user, ip: str = "") -> Actor:
        return cls("user", str(user.pk), truncate_ip(ip))

    @classmethod
    def api_key(cls, key, ip: str = "") -> Actor:
        return cls("api_key", str(key.pk), truncate_ip(ip))


def chain_for(organisation) -> str:
    return f"org:{organisation.pk}" if organisation is not None else PLATFORM_CHAIN


def _check_details(details: dict) -> None:
    for key, value in details.items():
        if isinstance(value, dict):
            _check_details(value)
        elif isinstance(value, str) and looks_personal(value):
            raise ValueError(f"audit detail {key!r} looks like personal data; store an id instead")


# Other hash-chained ledgers (the consent ledger) register a verifier for their chains' prefix, so
# that `relance audit verify` checks every chain of the platform in one run.
LEDGER_VERIFIERS: dict[str, object] = {}


def register_ledger(prefix: str, verify_head) -> None:
    """verify_head(head: ChainHead) -> Break | None, for chains named `<prefix>...`."""
    LEDGER_VERIFIERS[prefix] = verify_head


def lock_chain(chain: str) -> ChainHead:
    """The chain's head, locked until the end of the transaction (created on first use)."""
    return _locked_head(chain)


def _locked_head(chain: str) -> ChainHead:
    head = ChainHead.objects.select_for_update().filter(chain=chain).first()
    if head is None:
        try:
            with transaction.atomic():
                ChainHead.objects.create(chain=chain)
        except IntegrityError:
            pass  # created by a concurrent writer
        head = ChainHead.objects.select_for_update().get(chain=chain)
    return head


def record(organisation, actor: Actor, action: str, *, target=None, target_type: str = "",
           target_id: str = "", details: dict | None = None) -> AuditEvent:
    """Append one event to the organisation's chain (platform chain when organisation is None)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit.record() must run inside the transaction of the change it records")
    details = details or {}
    _check_details(details)
    if target is not None:
        target_type = target_type or target._meta.label_lower
        target_id = target_id or str(target.pk)
    chain = chain_for(organisation)
    head = _locked_head(chain)
    event = AuditEvent(
        chain=chain,
        seq=head.last_seq + 1,
        organisation=organisation,
        created_at=timezone.now(),
        actor_kind=actor.kind,
        actor_id=actor.id,
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        ip=actor.ip,
        details=details,
        prev_hash=head.last_hash or head.base_hash or GENESIS,
    )
    event.hash = row_digest(hashed_fields(event))
    event.save()
    head.last_seq, head.last_hash = event.seq, event.hash
    head.save(update_fields=["last_seq", "last_hash"])
    return event


def verify(chains: list[str] | None = None, progress=None):
    """Check every chain (or the given ones); yields (chain, Break or None)."""
    heads = ChainHead.objects.order_by("chain")
    if chains:
        heads = heads.filter(chain__in=chains)
    for head in heads:
        ledger = next((fn for prefix, fn in LEDGER_VERIFIERS.items() if head.chain.startswith(prefix)), None)
        if ledger is not None:
            found = ledger(head)
        else:
            rows = AuditEvent.objects.filter(chain=head.chain).order_by("seq").iterator(chunk_size=2000)
            found = first_break(head.chain, rows, head.last_seq, head.last_hash, head.base_seq, head.base_hash)
        if progress:
            progress(head.chain, head.last_seq)
        yield head.chain, found
    orphan = AuditEvent.objects.exclude(chain__in=ChainHead.objects.values("chain")).values("chain").first()
    if orphan and not chains:
        from .chain import Break

        yield orphan["chain"], Break(orphan["chain"], None, None, "rows exist for a chain that has no head")
