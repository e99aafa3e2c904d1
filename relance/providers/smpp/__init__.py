"""SMPP 3.4: our own transceiver client (plain sockets and threads; the worker is synchronous).

Public API (kept stable: the Jasmin tests use it):

    from relance.providers.kinds import AccountConfig
    from relance.providers.smpp import ADAPTER, SmppProvider

    provider = SmppProvider(AccountConfig(id=None, label="smpp:1", kind="smpp", channel="sms",
        credentials={"host": "127.0.0.1", "port": 2775, "system_id": "relance", "password": "secret"},
        options={"window": 32}))
    provider.listener = my_listener        # base.Listener: receipts(label, [Receipt]), inbound(label, Inbound)
    provider.open()                        # binds; ProviderError(permanent=True) for a refused password
    results = provider.send([Outgoing(...), ...])   # one Result per Outgoing, in order
    provider.close()                       # unbinds

Results: SENT with provider_ref = the first part's message_id (detail {"parts": [ids]} when several);
FAILED "smpp_0x0b" for a permanent command_status; RETRY "smpp_0x58" for a temporary one; RETRY
"smpp_in_flight_lost" / "smpp_timeout" with detail {"reconcile": True} when the SMSC may have the
message; RETRY "smpp_disconnected" when it was never written. Options: see provider.py.
Modules: pdu.py (codec), receipts.py (command_status table, receipt parser), client.py (the
connection: window, reader, handler, keeper), provider.py (SmppProvider).
"""

from relance.providers.kinds import Adapter

from .provider import SmppProvider

ADAPTER = Adapter(kind="smpp", label="SMPP 3.4", channel="sms", build=SmppProvider,
                  credential_fields=("host", "port", "system_id", "password"),
                  optional_credentials=("system_type",), webhooks=False)

__all__ = ["ADAPTER", "SmppProvider"]
