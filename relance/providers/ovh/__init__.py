"""OVHcloud SMS (EU API): send with signed API calls, delivery reports and replies by callback.

Credentials: `application_key`, `application_secret`, `consumer_key` (an API token with POST
/sms/*/jobs), `service_name` (the SMS account, sms-xx11111-1) and `callback_secret`, the second
secret of the callback URLs (see receipts.py for what protects them). Options: `base_url`,
`sender_for_response` (send from a short number people can answer, France only), `no_stop_clause`,
`priority`, `validity_minutes`.
"""

from relance.providers.kinds import Adapter

from . import receipts
from .client import OvhProvider

ADAPTER = Adapter(
    kind="ovh", label="OVHcloud SMS", channel="sms", build=OvhProvider,
    credential_fields=("application_key", "application_secret", "consumer_key", "service_name", "callback_secret"),
    verify=receipts.verify, parse_receipts=receipts.parse_receipts, parse_inbound=receipts.parse_inbound,
    reply=receipts.reply,
)
