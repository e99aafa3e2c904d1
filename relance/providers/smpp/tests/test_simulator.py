"""SmppProvider against our SMSC simulator (tests/smsc, fixture `smsc`): bind, encodings,
concatenation, receipts and MO through the Listener (R-33), throttling, errors (R-29), a dropped
connection and an outage. Every Outgoing ends sent, failed with a reason, or retried: none lost."""

from __future__ import annotations

import threading

import pytest

from relance.providers.base import ProviderError, Result
from relance.providers.smpp import SmppProvider, pdu
from relance.providers.testing.smsc import SmscSimulator

from .helpers import RecordingListener, bound, config, sms, wait_until

FRENCH = "Rappel : RDV à 9h30 — Clinique Saint-Éloi"


@pytest.fixture
def listener():
    return RecordingListener()


@pytest.fixture
def provider(smsc, listener):
    provider = bound(smsc, listener, reconnect_max_seconds=0.3)
    yield provider
    provider.close()


def test_it_binds_as_a_transceiver_and_unbinds_on_close(smsc):
    provider = bound(smsc)
    assert smsc.wait_for(lambda s: s["bound"] == 1)["binds"] == 1
    provider.close()
    smsc.wait_for(lambda s: s["bound"] == 0)


def test_it_refuses_a_bad_password_permanently():
    """ESME_RBINDFAIL: binding again cannot help, the account needs fixing."""
    simulator = SmscSimulator(system_id="relance", password="right").start()
    try:
        provider = SmppProvider(config(simulator.host, simulator.port, password="wrong"))
        with pytest.raises(ProviderError) as refused:
            provider.open()
        assert refused.value.permanent and refused.value.code == "smpp_0x0d"
        good = SmppProvider(config(simulator.host, simulator.port, password="right"))
        good.open()
        good.close()
    finally:
        simulator.stop()


def test_it_cannot_connect_to_nothing_and_says_so_temporarily(smsc):
    smsc.down(2)
    with pytest.raises(ProviderError) as refused:
        SmppProvider(config(smsc.host, smsc.port)).open()
    assert not refused.value.permanent


def test_it_submits_gsm_7_unpacked_with_the_sender_numbering(smsc, provider):
    [result] = provider.send([sms("m1", body="Rappel : RDV demain à 9h30 {salle 2} 50€")])
    [record] = smsc.messages()
    assert result == Result.sent("m1", record["id"])
    assert record["data_coding"] == 0 and record["esm_class"] == 0 and record["registered_delivery"] == 1
    assert bytes.fromhex(record["short_message_hex"]) == pdu.encode_gsm("Rappel : RDV demain à 9h30 {salle 2} 50€")
    assert (record["source_addr"], record["source_addr_ton"], record["source_addr_npi"]) == ("Clinique", 5, 0)
    assert (record["destination_addr"], record["dest_addr_ton"], record["dest_addr_npi"]) == ("33612345678", 1, 1)


def test_it_numbers_a_digit_sender_international(smsc, provider):
    provider.send([sms("m1", sender="+33700000000")])
    [record] = smsc.messages()
    assert (record["source_addr"], record["source_addr_ton"], record["source_addr_npi"]) == ("33700000000", 1, 1)


def test_it_submits_french_text_as_ucs_2(smsc, provider):
    [result] = provider.send([sms("m1", body=FRENCH)])
    [record] = smsc.messages()
    assert result.status == Result.SENT and record["data_coding"] == 8
    assert bytes.fromhex(record["short_message_hex"]).decode("utf-16-be") == FRENCH


def test_it_sends_a_long_message_in_three_parts_with_one_concatenation_reference(smsc, provider):
    text = ("Bonjour, votre rendez-vous est confirmé. " * 11)[:420]
    [result] = provider.send([sms("m1", body=text)])
    records = smsc.messages()
    assert len(records) == 3 and all(r["esm_class"] == 0x40 for r in records)
    headers = [bytes.fromhex(r["udh_hex"]) for r in records]
    assert {h[:3] for h in headers} == {bytes((5, 0, 3))} and len({h[3] for h in headers}) == 1
    assert [(h[4], h[5]) for h in headers] == [(3, 1), (3, 2), (3, 3)]
    assert "".join(pdu.decode_gsm(bytes.fromhex(r["short_message_hex"])[6:]) for r in records) == text
    assert result.provider_ref == records[0]["id"] and result.detail == {"parts": [r["id"] for r in records]}
    [second] = provider.send([sms("m2", body=text)])
    assert bytes.fromhex(smsc.messages(since=3)[0]["udh_hex"])[3] != headers[0][3]  # the reference rotates


def test_it_hands_each_receipt_to_the_listener_matched_to_its_message(smsc, provider, listener):
    smsc.behaviour(receipt_destinations={"33600000002": {"status": "UNDELIV", "err": "001"}})
    delivered, failed = provider.send([sms("a", to="+33600000001"), sms("b", to="+33600000002")])
    assert listener.receipt_for(delivered.provider_ref).status == "delivered"
    undelivered = listener.receipt_for(failed.provider_ref)
    assert undelivered.status == "undeliverable" and undelivered.permanent
    smsc.wait_for(lambda s: s["receipts_acked"] == 2)


@pytest.mark.parametrize("receipt_format", ["minimal", "tlv_only"])
def test_it_matches_receipts_in_other_formats(smsc, provider, listener, receipt_format):
    smsc.behaviour(receipt_format=receipt_format)
    [result] = provider.send([sms("a")])
    assert listener.receipt_for(result.provider_ref).status == "delivered"


def test_it_acknowledges_a_stop_only_after_the_listener_returned_and_keeps_sending_meanwhile(smsc, provider,
                                                                                            listener):
    """R-33: a deliver_sm_resp means the STOP is applied. While the listener waits (the database),
    the reader keeps reading: a send() in the meantime completes (no deadlock)."""
    listener.hold = True
    answer = {}
    thread = threading.Thread(target=lambda: answer.update(smsc.mo("+33611111111", "Clinique", "STOP")))
    thread.start()
    assert listener.entered.wait(5)
    assert [r.status for r in provider.send([sms("during")])] == [Result.SENT]
    assert smsc.stats()["mo_acked"] == 0  # not acknowledged while the listener has not returned
    listener.release.set()
    thread.join(10)
    assert answer["delivered"] and smsc.stats()["mo_acked"] == 1
    [message] = listener.inbound_got
    assert (message.sender, message.to, message.text) == ("+33611111111", "Clinique", "STOP")


def test_it_decodes_mo_in_ucs_2(smsc, provider, listener):
    assert smsc.mo("+33611111111", "Clinique", "Arrêt ✋", data_coding=8)["delivered"]
    assert listener.inbound_got[0].text == "Arrêt ✋"


def test_it_answers_a_temporary_error_when_the_listener_fails(smsc, provider, listener):
    """Never acknowledge what was not applied: ESME_RX_T_APPN makes the SMSC try again later."""
    listener.fail = True
    answer = smsc.mo("+33611111111", "Clinique", "STOP")
    assert not answer["delivered"] and answer["command_status"] == 0x64


def test_it_retries_throttled_submits_and_loses_none(smsc, provider):
    smsc.behaviour(throttle_next=5)
    results = provider.send([sms(f"m{i}", to=f"+3360000{i:04d}") for i in range(40)])
    assert [r.ref for r in results] == [f"m{i}" for i in range(40)]
    throttled = [r for r in results if r.status == Result.RETRY]
    assert len(throttled) == 5 and {r.error for r in throttled} == {"smpp_0x58"}
    assert sum(r.status == Result.SENT for r in results) == 35
    assert provider.client.stats["throttled"] == 5
    assert all(r.status == Result.SENT for r in provider.send([sms(f"again{i}") for i in range(5)]))


def test_it_fails_permanent_refusals_and_retries_temporary_ones(smsc, provider):
    """R-29: ESME_RINVDSTADR is the number's fault; ESME_RSYSERR the SMSC's."""
    smsc.behaviour(error_destinations={"33600000009": 0x0B})
    invalid, fine = provider.send([sms("bad", to="+33600000009"), sms("ok", to="+33600000001")])
    assert invalid == Result.failed("bad", "smpp_0x0b") and fine.status == Result.SENT
    smsc.behaviour(error_next=[{"status": 0x08, "count": 1}])
    [temporary] = provider.send([sms("sys")])
    assert temporary.status == Result.RETRY and temporary.error == "smpp_0x08" and not temporary.detail


def test_it_fails_what_cannot_be_an_sms_without_submitting(smsc, provider):
    [result] = provider.send([sms("x", to="not a number")])
    assert result == Result.failed("x", "smpp_invalid_destination") and smsc.messages() == []


def test_it_gives_every_message_a_result_when_the_connection_drops_with_a_full_window(smsc, provider):
    """The SMSC closes the connection on the 11th submit with a window of 32 written: those answered
    are sent, those written but unanswered are retried for reconciliation, those never written are
    retried plainly; none is lost, and nothing the SMSC accepted is retried without the mark."""
    smsc.behaviour(drop_after=10)
    batch = [sms(f"m{i}", to=f"+3360000{i:04d}") for i in range(100)]
    results = provider.send(batch)
    assert [r.ref for r in results] == [o.ref for o in batch]
    by_status = {}
    for result in results:
        by_status.setdefault((result.status, result.error), []).append(result)
    assert set(by_status) <= {(Result.SENT, ""), (Result.RETRY, "smpp_in_flight_lost"),
                              (Result.RETRY, "smpp_disconnected")}
    assert len(by_status.get((Result.SENT, ""), [])) <= 10
    assert len(by_status[(Result.RETRY, "smpp_in_flight_lost")]) >= 22  # the window, less those answered
    assert all(r.detail == {"reconcile": True} for r in by_status[(Result.RETRY, "smpp_in_flight_lost")])
    assert len(by_status[(Result.RETRY, "smpp_disconnected")]) >= 1
    assert sum(len(group) for group in by_status.values()) == 100
    accepted = {r["destination_addr"]: r["id"] for r in smsc.messages() if r["status"] == "accepted"}
    for outgoing, result in zip(batch, results, strict=True):
        if outgoing.to.lstrip("+") in accepted:
            assert result.provider_ref == accepted[outgoing.to.lstrip("+")] or result.detail == {"reconcile": True}
    wait_until(lambda: provider.client.connected)
    assert all(r.status == Result.SENT for r in provider.send(batch[:5]))


def test_it_retries_unwritten_messages_while_the_smsc_is_down_and_reconnects_when_it_is_back(smsc, provider):
    smsc.down(1.0)
    wait_until(lambda: not provider.client.connected)
    results = provider.send([sms(f"m{i}") for i in range(10)])
    assert {(r.status, r.error) for r in results} == {(Result.RETRY, "smpp_disconnected")}
    assert all(not r.detail for r in results)  # never written: no possible duplicate
    wait_until(lambda: provider.client.connected, timeout=8)
    assert all(r.status == Result.SENT for r in provider.send([sms(f"n{i}") for i in range(10)]))
    assert provider.client.stats["reconnects"] >= 1


def test_it_retries_for_reconciliation_when_no_answer_comes_in_time(smsc, listener):
    smsc.behaviour(delay_ms=1500)
    provider = bound(smsc, listener, submit_timeout_seconds=0.3)
    try:
        [result] = provider.send([sms("slow")])
    finally:
        provider.close()
    assert result.status == Result.RETRY and result.error == "smpp_timeout" and result.detail == {"reconcile": True}


def test_it_keeps_the_link_alive_with_enquire_link(smsc, listener):
    provider = bound(smsc, listener, enquire_link_seconds=0.1)
    try:
        link = provider.client._link
        wait_until(lambda: link.enquired_at > 0 and link.last_heard >= link.enquired_at, timeout=3)
        assert provider.client.connected and provider.client._link is link
    finally:
        provider.close()
