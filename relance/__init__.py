"""Relance: GDPR-first SMS and e-mail reminders and service notices."""
