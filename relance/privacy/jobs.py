"""The privacy jobs the worker runs in its housekeeping round (relance.lib.housekeeping).

Each job is cheap when there is nothing to do, and safe to run from several workers at once:
the daily purge claims its day per organisation, webhook deliveries are claimed with a lease,
leftover keys and expired codes are idempotent deletions.
"""

from __future__ import annotations

from relance.lib import housekeeping

MINUTE, HOUR = 60, 3600


def _scheduled_purge():
    from .purge import scheduled_purge

    return scheduled_purge()


def _deliver_webhooks():
    from relance.webhooks.delivery import deliver_due

    return deliver_due()


def _destroy_leftover_keys():
    from .erasure import destroy_leftover_keys

    return destroy_leftover_keys()


def _purge_codes():
    from .intake import purge_codes

    return purge_codes()


def register_all() -> None:
    """Called once from PrivacyConfig.ready()."""
    housekeeping.register("privacy.scheduled_purge", _scheduled_purge, every_seconds=15 * MINUTE)
    housekeeping.register("webhooks.deliver", _deliver_webhooks, every_seconds=10)
    housekeeping.register("privacy.destroy_leftover_keys", _destroy_leftover_keys, every_seconds=HOUR)
    housekeeping.register("privacy.purge_codes", _purge_codes, every_seconds=HOUR)
