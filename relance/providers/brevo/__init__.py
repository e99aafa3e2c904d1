"""Brevo transactional SMS: send with the `api-key`, SMS events and replies by webhook.

Credentials: `api_key`, and for the webhooks (R-66) either `webhook_token` (a bearer token set on
the Brevo webhook) or `webhook_username` + `webhook_password` (basic authentication in its URL).
Without one of them every webhook call is refused. Options: `base_url`, `type` (transactional),
`tag`, `sender` (used when a message names none), `per_message_webhook` (pass `webUrl`, default true).
Replies need a Brevo webhook for the `reply` event pointed at `…/inbound?sender=<our sender>`.
"""

from relance.providers.kinds import Adapter

from . import receipts
from .client import BrevoProvider

ADAPTER = Adapter(
    kind="brevo", label="Brevo", channel="sms", build=BrevoProvider,
    credential_fields=("api_key",),
    optional_credentials=("webhook_token", "webhook_username", "webhook_password"),
    verify=receipts.verify, parse_receipts=receipts.parse_receipts, parse_inbound=receipts.parse_inbound,
    reply=receipts.reply,
)
