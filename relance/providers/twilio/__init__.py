"""Twilio Programmable Messaging (SMS): sending over its REST API, status callbacks, incoming SMS.

Credentials: `account_sid` and `auth_token` (the auth token also checks X-Twilio-Signature on our
webhooks, R-66); optional `messaging_service_sid`. Options: `base_url` (tests), `sender` (used when
a message names none). Point the number's "A message comes in" webhook at
/hooks/twilio/<token>/inbound; status callbacks are requested per message (/receipts).
"""

from relance.providers.kinds import Adapter

from . import receipts
from .client import TwilioProvider

ADAPTER = Adapter(
    kind="twilio",
    label="Twilio",
    channel="sms",
    build=TwilioProvider,
    credential_fields=("account_sid", "auth_token"),
    optional_credentials=("messaging_service_sid",),
    verify=receipts.verify,
    parse_receipts=receipts.parse_receipts,
    parse_inbound=receipts.parse_inbound,
    reply=receipts.reply,
)
