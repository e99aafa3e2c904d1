"""/metrics: the Prometheus endpoint (issue 10, item 4 and 5; docs/monitoring.md).

A seeded world with known counts (two organisations, messages in every state, timeline lines,
provider accounts, STOP replies, rights requests, purge reports) is scraped through the URL; the
exposition is parsed by a small parser of the text format 0.0.4 written here (no prometheus_client in
the project), each figure compared with what was seeded, the output scanned for the seeded people's
values, the token rules tried, the alert rules file checked against the metrics really exposed, and
(PostgreSQL) every statement of a scrape explained: none may read a big table from end to end.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from conftest import needs
from relance.bench import plans
from relance.messaging.models import InboundMessage, Message, MessageEvent, SendingSettings
from relance.ops import health, metrics
from relance.privacy.models import PurgeReport, RightsRequest
from relance.providers.models import ProviderAccount
from relance.testing import make_org

ALERTS = Path(__file__).resolve().parents[3] / "deploy" / "prometheus" / "relance-alerts.yml"
TOKEN = "metrics-token-0123456789abcdef"  # noqa: S105 (a test value)

# --- a parser of the text exposition format 0.0.4 ------------------------------------------------------
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\\\|\\"|\\n)*"'
SAMPLE = re.compile(rf"^({NAME})(?:\{{((?:{LABEL})(?:,{LABEL})*)?\}})? (\S+)$")
VALUE = re.compile(r"^(?:[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)|[+-]Inf|NaN)$")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


class FormatError(ValueError):
    pass


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), text)


def parse(text: str) -> tuple[dict[str, str], dict[tuple, float]]:
    """({family: type}, {(name, ((label, value), ...)): value}); raises FormatError on anything the
    format does not allow: a sample without its family's TYPE before it, a family declared twice, a
    malformed label or value, a duplicate sample, a missing final newline."""
    if not text.endswith("\n"):
        raise FormatError("the exposition must end with a newline")
    types: dict[str, str] = {}
    samples: dict[tuple, float] = {}
    for number, line in enumerate(text.split("\n")[:-1], 1):
        if line.startswith("# TYPE "):
            parts = line.split(" ")
            if len(parts) != 4 or not re.fullmatch(NAME, parts[2]) or parts[3] not in TYPES:
                raise FormatError(f"line {number}: bad TYPE line {line!r}")
            if parts[2] in types:
                raise FormatError(f"line {number}: {parts[2]} declared twice")
            types[parts[2]] = parts[3]
            continue
        if line.startswith("# HELP "):
            if not re.fullmatch(rf"# HELP {NAME} .*", line):
                raise FormatError(f"line {number}: bad HELP line")
            continue
        if line.startswith("#") or not line:
            continue
        match = SAMPLE.match(line)
        if not match or not VALUE.match(match.group(3)):
            raise FormatError(f"line {number}: not a sample: {line!r}")
        name = match.group(1)
        if name not in types:
            raise FormatError(f"line {number}: {name} has no TYPE before its samples")
        labels = tuple(sorted((key, _unescape(value)) for key, value in
                              re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', match.group(2) or "")))
        key = (name, labels)
        if key in samples:
            raise FormatError(f"line {number}: duplicate sample {key}")
        samples[key] = float(match.group(3))
    return types, samples


def value(samples, name: str, **labels) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def test_the_parser_rejects_malformed_expositions():
    """The format check can fail (issue 10): a planted fault of each kind is refused."""
    good = "# HELP x_total A thing.\n# TYPE x_total gauge\nx_total{a=\"b\\\"c\"} 1.5\n"
    assert parse(good)[1] == {("x_total", (("a", 'b"c'),)): 1.5}
    for bad in (
        good.rstrip("\n"),  # no final newline
        "x_total 1\n",  # no TYPE
        good + "# TYPE x_total gauge\n",  # declared twice
        good.replace("1.5", "one"),  # not a number
        good.replace('\\"c"', '"c"'),  # an unescaped quote
        good + 'x_total{a="b\\"c"} 2\n',  # duplicate
        good.replace("gauge", "meter"),  # no such type
    ):
        with pytest.raises(FormatError):
            parse(bad)


# --- the seeded world -------------------------------------------------------------------------------
PERSON = {"first_name": "Ophélie", "last_name": "Zygmuntowicz", "phone": "+33612398761",
          "email": "ophelie.zygmuntowicz@example.org"}


@pytest.fixture
def seeded(db_both):
    """Known counts. `now` is the real clock (rows get created_at from it); every time is relative to it."""
    from relance.messaging.services import send_message
    from relance.messaging.tests.campaign_helpers import informed_contact, make_purpose, make_template
    from relance.testing import SYSTEM

    now = timezone.now()
    lib = make_org("library", slug="lib-a", name="Médiathèques A", dpo_name="Dora Privacyofficer",
                   dpo_email="dora.privacyofficer@example.org")
    clinic = make_org("health", slug="clinic-b", name="Cabinet B")
    purpose = make_purpose(lib)
    sms, email = make_template(purpose), make_template(purpose, channel="email")
    person = informed_contact(lib, purpose, **PERSON)
    smpp = ProviderAccount.unscoped.create(organisation=lib, name="smsc", kind="smpp", channel="sms",
                                           credentials="{}", circuit="open", failures=3, opened_at=now)
    brevo = ProviderAccount.unscoped.create(name="mail", kind="brevo", channel="email", credentials="{}",
                                            last_success_at=now - timedelta(minutes=1))

    def message(org, template, contact, **fields):
        row = send_message(org, actor=SYSTEM, contact=contact, purpose=template.purpose, channel=template.channel,
                           template=template)
        Message.unscoped.filter(pk=row.pk).update(**fields)
        return row

    S = Message.Status
    for minutes in (10, 5, 1):  # due now: the oldest 10 minutes ago
        message(lib, sms, person, status=S.SCHEDULED, due_at=now - timedelta(minutes=minutes))
    message(lib, sms, person, status=S.SCHEDULED, due_at=now + timedelta(days=1))
    message(lib, sms, person, status=S.CLAIMED, due_at=now - timedelta(hours=1), claimed_by="w1",
            claimed_at=now - timedelta(hours=1))  # older than the lease (300 s)
    message(lib, email, person, status=S.SENDING, due_at=now, claimed_by="w2", claimed_at=now - timedelta(seconds=10))
    sent = [message(lib, sms, person, status=S.SENT, provider=smpp.label, claimed_at=now - timedelta(seconds=40 + i),
                    sent_at=now - timedelta(seconds=38), due_at=now - timedelta(minutes=1)) for i in (0, 20)]
    old = message(lib, sms, person, status=S.DELIVERED, provider=smpp.label, sent_at=now - timedelta(hours=2))
    Message.unscoped.filter(pk=old.pk).update(created_at=now - timedelta(hours=2))
    clinic_purpose = make_purpose(clinic)
    clinic_email = make_template(clinic_purpose, channel="email")
    failed = message(clinic, clinic_email, informed_contact(clinic, clinic_purpose), status=S.FAILED,
                     provider=brevo.label, reason="rejected")

    MessageEvent.unscoped.all().delete()  # the timeline in time order, as the workers write it
    lines = [(old, now - timedelta(hours=2), "sent", "", {"provider": smpp.label}),
             (old, now - timedelta(minutes=20), "retry", "timeout", {"provider": smpp.label}),
             (sent[0], now - timedelta(minutes=10), "retry", "timeout", {"provider": smpp.label}),
             (sent[0], now - timedelta(minutes=2), "failed", "rejected", {}),
             (failed, now - timedelta(minutes=1), "failed", "rejected", {}),
             (sent[0], now - timedelta(seconds=38), "sent", "", {"provider": smpp.label}),
             (sent[1], now - timedelta(seconds=38), "sent", "", {"provider": smpp.label})]
    MessageEvent.unscoped.bulk_create([MessageEvent(organisation_id=m.organisation_id, message=m, at=at, kind=kind,
                                                    reason=reason, detail=detail) for m, at, kind, reason, detail in lines])

    SendingSettings.unscoped.create(organisation=lib, stop_rate_threshold=5)
    for hours, phone_hash in ((0.5, "a" * 64), (0.2, "b" * 64), (5, "c" * 64), (30, "d" * 64)):
        InboundMessage.unscoped.create(organisation=lib, phone_hash=phone_hash, to="LIB", keyword="STOP",
                                       action="stop", received_at=now - timedelta(hours=hours))
    InboundMessage.unscoped.create(organisation=lib, phone_hash="e" * 64, to="LIB", keyword="INFO", action="info",
                                   received_at=now)

    for n, (due_days, status) in enumerate(((3, "received"), (-1, "in_progress"), (-2, "completed"),
                                            (20, "received"), (6, "extended")), 1):
        RightsRequest.unscoped.create(organisation=lib, reference=f"DR-2026-{n:05d}", kind="access", channel="staff",
                                      received_at=now - timedelta(days=20), due_at=now + timedelta(days=due_days),
                                      status=status, created_by_kind="system", details="")

    day = timedelta(days=1)
    PurgeReport.unscoped.create(organisation=lib, trigger="schedule", started_at=now - 2 * day,
                                finished_at=now - 2 * day, counts={"message_content": 99})
    PurgeReport.unscoped.create(organisation=lib, trigger="schedule", started_at=now - day,
                                finished_at=now - day + timedelta(seconds=30),
                                counts={"message_content": 5, "audit_events": 0})
    PurgeReport.unscoped.create(organisation=lib, trigger="command", dry_run=True, started_at=now,
                                counts={"message_content": 7})
    PurgeReport.unscoped.create(organisation=clinic, trigger="schedule", started_at=now - day,
                                finished_at=now - day, error="DatabaseError", counts={})
    return {"now": now, "lib": lib, "clinic": clinic, "smpp": smpp, "brevo": brevo, "person": person}


def scrape(client, **headers) -> tuple[dict, dict]:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"] == metrics.CONTENT_TYPE
    return parse(response.content.decode())


def test_values_match_the_seeded_world(client, seeded):
    """Issue 10 item 4 (R-34, R-41, R-50, R-23, R-29): each figure is what was seeded."""
    types, s = scrape(client)
    smpp, brevo = seeded["smpp"].label, seeded["brevo"].label
    assert value(s, "relance_up") == 1
    assert any(name == "relance_build_info" for name, _ in s)
    # Messages created in the last hour (the one created 2 h ago is not counted).
    assert value(s, "relance_messages", organisation="lib-a", channel="sms", status="scheduled") == 4
    assert value(s, "relance_messages", organisation="lib-a", channel="sms", status="claimed") == 1
    assert value(s, "relance_messages", organisation="lib-a", channel="email", status="sending") == 1
    assert value(s, "relance_messages", organisation="lib-a", channel="sms", status="sent") == 2
    assert value(s, "relance_messages", organisation="lib-a", channel="sms", status="delivered") is None
    assert value(s, "relance_messages", organisation="clinic-b", channel="email", status="failed") == 1
    # The queue.
    assert value(s, "relance_queue_depth", organisation="lib-a", channel="sms", state="due") == 3
    assert value(s, "relance_queue_depth", organisation="lib-a", channel="sms", state="claimed") == 1
    assert value(s, "relance_queue_depth", organisation="lib-a", channel="email", state="sending") == 1
    assert 600 <= value(s, "relance_queue_oldest_due_seconds") < 660
    assert value(s, "relance_messages_sending_stale") == 1
    # Circuits.
    assert value(s, "relance_provider_circuit_open", account=smpp, channel="sms", organisation="lib-a") == 1
    assert value(s, "relance_provider_circuit_open", account=brevo, channel="email", organisation="") == 0
    assert value(s, "relance_provider_circuit_state", account=smpp, channel="sms", organisation="lib-a",
                 state="open") == 1
    assert value(s, "relance_provider_consecutive_failures", account=smpp, channel="sms", organisation="lib-a") == 3
    assert abs(value(s, "relance_provider_last_success_timestamp", account=brevo, channel="email", organisation="")
               - (seeded["now"] - timedelta(minutes=1)).timestamp()) < 1
    # Results of the last 5 and 15 minutes, from the timeline (the lines 20 min and 2 h ago are out).
    assert value(s, "relance_provider_results", provider=smpp, result="sent", window="5m") == 2
    assert value(s, "relance_provider_results", provider=smpp, result="retry", window="5m") == 0
    assert value(s, "relance_provider_results", provider=smpp, result="retry", window="15m") == 1
    assert value(s, "relance_provider_results", provider=smpp, result="failed", window="5m") == 1
    assert value(s, "relance_provider_errors", provider=brevo, result="failed", reason="rejected", window="15m") == 1
    assert value(s, "relance_provider_errors", provider=smpp, result="retry", reason="timeout", window="15m") == 1
    # Hand-off latency of the two messages sent 38 s ago, claimed 40 and 60 s ago.
    assert value(s, "relance_provider_latency_count", provider=smpp) == 2
    assert value(s, "relance_provider_latency_seconds_avg", provider=smpp) == pytest.approx(12, abs=0.01)
    assert value(s, "relance_provider_latency_seconds_max", provider=smpp) == pytest.approx(22, abs=0.01)
    assert value(s, "relance_provider_latency_within", provider=smpp, le="5") == 1
    assert value(s, "relance_provider_latency_within", provider=smpp, le="30") == 2
    assert value(s, "relance_provider_latency_within", provider=smpp, le="+Inf") == 2
    # STOP replies: 2 in the hour, 3 in 24 h (3 numbers) over the 3 SMS sent in 24 h.
    assert value(s, "relance_stop_replies", organisation="lib-a", window="1h") == 2
    assert value(s, "relance_stop_replies", organisation="lib-a", window="24h") == 3
    assert value(s, "relance_stop_replies", organisation="clinic-b", window="24h") == 0
    assert value(s, "relance_stop_rate_percent", organisation="lib-a") == 100
    assert value(s, "relance_stop_rate_percent", organisation="clinic-b") == 0
    assert value(s, "relance_stop_rate_threshold_percent", organisation="lib-a") == 5
    assert value(s, "relance_stop_rate_threshold_percent", organisation="clinic-b") == 2
    # Rights requests: due in 3 and 6 days; one overdue (the completed one does not count).
    assert value(s, "relance_rights_requests_due_within_days", organisation="lib-a", days="7") == 2
    assert value(s, "relance_rights_requests_overdue", organisation="lib-a") == 1
    assert value(s, "relance_rights_requests_overdue", organisation="clinic-b") == 0
    # The last real purge, not the dry run after it.
    assert value(s, "relance_purge_rows_deleted", organisation="lib-a", category="message_content") == 5
    assert value(s, "relance_purge_rows_deleted", organisation="lib-a", category="audit_events") == 0
    assert value(s, "relance_purge_last_run_timestamp", organisation="lib-a") == pytest.approx(
        (seeded["now"] - timedelta(days=1) + timedelta(seconds=30)).timestamp(), abs=0.01)
    assert value(s, "relance_purge_last_run_failed", organisation="lib-a") == 0
    assert value(s, "relance_purge_last_run_failed", organisation="clinic-b") == 1
    assert set(types.values()) == {"gauge"}


def test_no_personal_data_in_the_output(client, seeded):
    """R-61: labels are slugs, account labels, channels, states and codes; no value of the seeded person
    or of the DPO appears, in any form (the check can fail: a planted label is found)."""
    text = client.get("/metrics").content.decode()
    national = "0" + PERSON["phone"][3:]
    values = [*PERSON.values(), national, "Dora Privacyofficer", "dora.privacyofficer@example.org",
              str(seeded["person"].pk), "a" * 64]

    def leaks(output: str) -> list[str]:
        lowered = output.lower()
        return [v for v in values if v and v.lower() in lowered]

    assert leaks(text) == []
    assert leaks(text + f'relance_x{{who="{PERSON["last_name"]}"}} 1\n') == [PERSON["last_name"]]


# --- who may read it ------------------------------------------------------------------------------------
@pytest.fixture
def no_token(monkeypatch):
    monkeypatch.delenv("RELANCE_METRICS_TOKEN", raising=False)
    monkeypatch.delenv("RELANCE_METRICS_TOKEN_FILE", raising=False)


def test_without_a_token_only_the_machine_itself_in_embedded_mode(client, db_both, no_token):
    """§3.7: no token configured: embedded mode serves 127.0.0.1 (not through a proxy); production, nobody."""
    assert client.get("/metrics").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.7").status_code == 404
    assert client.get("/metrics", HTTP_X_FORWARDED_FOR="192.0.2.7").status_code == 404
    with override_settings(PRODUCTION=True):
        assert client.get("/metrics").status_code == 404


def test_a_configured_token_is_required(client, db_both, no_token, monkeypatch, tmp_path):
    """§3.7: with RELANCE_METRICS_TOKEN, a request without `Authorization: Bearer <token>` or with a
    wrong one gets 401, from anywhere; the _FILE form works; an unreadable file closes the endpoint."""
    monkeypatch.setenv("RELANCE_METRICS_TOKEN", TOKEN)
    for headers in ({}, {"HTTP_AUTHORIZATION": "Bearer wrong"}, {"HTTP_AUTHORIZATION": TOKEN},
                    {"HTTP_AUTHORIZATION": f"Basic {TOKEN}"}, {"HTTP_AUTHORIZATION": f"Bearer {TOKEN[:-1]}"}):
        response = client.get("/metrics", **headers)
        assert response.status_code == 401, headers
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert b"relance_" not in response.content
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200
    with override_settings(PRODUCTION=True):
        assert client.get("/metrics", REMOTE_ADDR="192.0.2.7", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200
    monkeypatch.delenv("RELANCE_METRICS_TOKEN")
    secret = tmp_path / "metrics.token"
    secret.write_text(TOKEN + "\n")
    monkeypatch.setenv("RELANCE_METRICS_TOKEN_FILE", str(secret))
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200
    assert client.get("/metrics").status_code == 401
    monkeypatch.setenv("RELANCE_METRICS_TOKEN_FILE", str(tmp_path / "missing"))
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 404


def test_the_token_is_compared_in_constant_time(client, db_both, no_token, monkeypatch):
    """§3.7: the comparison goes through hmac.compare_digest (no early exit on the first wrong byte)."""
    seen = []
    real = health.hmac.compare_digest

    def spy(a, b):
        seen.append((a, b))
        return real(a, b)

    monkeypatch.setenv("RELANCE_METRICS_TOKEN", TOKEN)
    monkeypatch.setattr(health.hmac, "compare_digest", spy)
    client.get("/metrics", HTTP_AUTHORIZATION="Bearer guess")
    assert seen == [(b"guess", TOKEN.encode())]


def test_a_database_that_cannot_be_read_says_relance_up_0(client, db_both, monkeypatch):
    """Issue 10 item 5: the scrape still answers, with relance_up 0 (the RelanceDatabaseUnreadable alert)."""
    from django.db import OperationalError

    def broken(now=None):
        raise OperationalError("gone")

    monkeypatch.setattr(metrics, "collect", broken)
    _types, s = scrape(client)
    assert value(s, "relance_up") == 0


# --- the alert rules --------------------------------------------------------------------------------
def alert_problems(document: dict, exposed: set[str]) -> list[str]:
    problems = []
    rules = [rule for group in document.get("groups", []) for rule in group.get("rules", [])]
    if not rules:
        problems.append("no rules")
    for rule in rules:
        name = rule.get("alert", "?")
        for key in ("alert", "expr", "for"):
            if not rule.get(key):
                problems.append(f"{name}: no {key}")
        if rule.get("labels", {}).get("severity") not in {"page", "ticket", "info"}:
            problems.append(f"{name}: severity must be page, ticket or info")
        for key in ("summary", "description"):
            if not rule.get("annotations", {}).get(key):
                problems.append(f"{name}: no annotation {key}")
        for metric in set(re.findall(r"\brelance_[a-z0-9_]+", str(rule.get("expr", "")))):
            if metric not in exposed:
                problems.append(f"{name}: {metric} is not exposed by /metrics")
        if str(rule.get("expr", "")).count("(") != str(rule.get("expr", "")).count(")"):
            problems.append(f"{name}: unbalanced parentheses")
    return problems


def test_the_alert_rules_parse_and_use_exposed_metrics(client, seeded):
    """Issue 10 item 5: deploy/prometheus/relance-alerts.yml is a Prometheus rules file whose every
    alert has a duration, a severity, a summary and a description, and uses metrics /metrics exposes
    (promtool is not required: `promtool check rules` is in docs/monitoring.md). The check can fail:
    an alert on a metric that does not exist is caught."""
    try:
        import yaml
    except ImportError:
        yaml = None
    needs("PyYAML", yaml is not None, "parses the alert rules file (schemathesis brings it)")
    document = yaml.safe_load(ALERTS.read_text())
    types, _samples = scrape(client)
    exposed = set(types)
    assert alert_problems(document, exposed) == []
    names = [rule["alert"] for group in document["groups"] for rule in group["rules"]]
    assert len(names) == len(set(names)) >= 10
    planted = {"groups": [{"name": "x", "rules": [{"alert": "Typo", "expr": "relance_queue_dept > 1", "for": "5m",
                                                  "labels": {"severity": "page"},
                                                  "annotations": {"summary": "s", "description": "d"}}]}]}
    assert alert_problems(planted, exposed) == ["Typo: relance_queue_dept is not exposed by /metrics"]


# --- cost (PostgreSQL) ------------------------------------------------------------------------------------
def scrape_statements() -> list[plans.Statement]:
    captured: list[plans.Statement] = []

    def wrapper(execute, sql, params, many, context):
        if not many:
            captured.append(plans.Statement(sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        metrics.collect()
    return captured


def full_reads(statement: plans.Statement) -> list[str]:
    """The big tables this statement reads from end to end, or all of one organisation's rows: a
    sequential scan (with sequential scans disabled, so only when no index can serve it), or an index
    scanned with no condition other than the organisation.

    On the small seeded world an organisation's plain index and a narrower one may cost the same, and the
    full suite's statistics decide (as in tests/test_query_plans.py): when the planner took an index on the
    organisation alone, that index is dropped (rolled back) and the statement explained again; it is a
    finding only when no index with a real condition can serve it."""
    with plans.rolled_back(), connection.cursor() as cursor:
        cursor.execute("SELECT c.relname, t.relname, i.indisunique FROM pg_index i "
                       "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid")
        indexes = {name: (table, unique) for name, table, unique in cursor.fetchall()}
        plan = plans.explain(statement, seqscan=False)
        for _round in range(8):
            _found, organisation_only = _reads(plan, indexes)
            droppable = sorted({name for name in organisation_only if not indexes[name][1]})
            if not droppable:
                break
            for name in droppable:
                cursor.execute(f"DROP INDEX {connection.ops.quote_name(name)}")  # noqa: S608 (catalogue names)
            plan = plans.explain(statement, seqscan=False)
        return sorted(set(plans.seq_scans(plan)))


def _reads(plan, indexes: dict) -> tuple[list[str], list[str]]:
    """(what the plan reads from end to end, the indexes it scans on the organisation alone)."""
    found, organisation_only = set(plans.seq_scans(plan)), []
    for node in plans.nodes(plan):
        table = indexes.get(node.get("Index Name"), (None, False))[0]
        if table in plans.BIG_TABLES:
            columns = set(re.findall(r"(\w+)\)? (?:=|>=|<=|<|>|IS) ", node.get("Index Cond", "")))
            if not columns - {"organisation_id"}:
                found.add(f"{table} (all of {node['Index Name']} {sorted(columns)})")
                organisation_only.append(node["Index Name"])
    return sorted(found), organisation_only


@pytest.mark.postgres
def test_a_scrape_reads_no_big_table_from_end_to_end(seeded):
    """SPEC §7 / issue 10: every statement of a scrape reaches an index with a condition; none reads the
    outbox, the timeline or the inbound messages from end to end (so a scrape stays cheap on 10,000,000
    messages). The check can fail: with message_created_idx dropped (rolled back), the count of the
    last hour's messages is reported."""
    if connection.vendor != "postgresql":
        pytest.skip("query plans are PostgreSQL's: this test runs in the PostgreSQL pass")
    statements = scrape_statements()
    assert len(statements) < 60, len(statements)
    bad = {s.sql[:160]: full_reads(s) for s in statements}
    assert {sql: tables for sql, tables in bad.items() if tables} == {}
    with plans.rolled_back(), connection.cursor() as cursor:
        cursor.execute("DROP INDEX message_created_idx")
        found = [full_reads(s) for s in statements if "created_at" in s.sql and "messaging_message" in s.sql]
    assert found and any(any("messaging_message" in t for t in tables) for tables in found), found
