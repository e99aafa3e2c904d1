"""Outbox, worker, templates, sending windows, inbound (STOP), campaigns (issue 4)."""
