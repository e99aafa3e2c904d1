"""Vonage SMS API: sending (rest.nexmo.com/sms/json), delivery receipts, inbound SMS, signed webhooks.

Credentials: `api_key` and `api_secret` (sending); `signature_secret` and `signature_method`
(md5hash, md5, sha1, sha256 or sha512, as chosen in Vonage's dashboard) check the signed webhooks
(R-66): without them every webhook is refused, so ask Vonage support to enable signed webhooks and
give both. Options: `base_url` (tests), `sender` (used when a message names none). Point the
number's inbound webhook at /hooks/vonage/<token>/inbound; receipts are requested per message.
"""

from relance.providers.kinds import Adapter

from . import receipts
from .client import VonageProvider

ADAPTER = Adapter(
    kind="vonage",
    label="Vonage",
    channel="sms",
    build=VonageProvider,
    credential_fields=("api_key", "api_secret"),
    optional_credentials=("signature_secret", "signature_method"),
    verify=receipts.verify,
    parse_receipts=receipts.parse_receipts,
    parse_inbound=receipts.parse_inbound,
    reply=receipts.reply,
)
