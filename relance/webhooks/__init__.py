"""Outgoing webhooks (SPEC §4): signed (HMAC-SHA-256) events to an organisation's own endpoint,
e.g. `contact.erased` for Art. 19 (R-43), `request.completed`, `consent.withdrawn`.

Events are written as `WebhookDelivery` rows in the transaction of the change they report (never
lost, never sent for a change that rolled back) and delivered by the worker with retries. Payloads
carry ids and codes only, never personal data in clear (R-61).
"""
