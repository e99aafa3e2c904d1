"""The privacy jobs the worker runs (relance.lib.housekeeping): each module adds its own here."""

from __future__ import annotations


def register_all() -> None:
    """Called once from PrivacyConfig.ready()."""
