"""The dashboard's figures and the outbox (issue 7): the charts equal the data (R-73 counting, R-51
statistics of purged messages), suppressed messages keep their reason in plain words (R-20), rights
requests due soon or late stand out (R-41), the breach clock (R-71), masking and audited reads of
personal data (R-65) and tenant isolation (R-63)."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from relance.accounts.models import Role
from relance.audit.models import AuditEvent
from relance.messaging.models import InboundMessage, Message, MessageEvent
from relance.messaging.tests.campaign_helpers import make_campaign, make_message, make_purpose, make_template
from relance.privacy import rights
from relance.privacy.models import MessageStat, RightsRequest
from relance.privacy.tests.breach_helpers import make_breach
from relance.testing import SYSTEM, RelanceTestCase, make_contact

from ..views.insights import stats
from .helpers import HOME, sign_in, text

MESSAGES = reverse("backoffice:messages")


def local_noon(org, days_ago: int) -> datetime:
    zone = ZoneInfo(org.time_zone)
    day = timezone.now().astimezone(zone).date() - timedelta(days=days_ago)
    return datetime.combine(day, time(12), tzinfo=zone)


def set_message(message, *, status, days_ago=0, reason="", org=None, segments=None):
    Message.objects.for_org(message.organisation_id).filter(pk=message.pk).update(
        status=status, reason=reason, created_at=local_noon(org or message.organisation, days_ago), segments=segments)
    message.refresh_from_db()
    return message


def stop(org, days_ago: int):
    return InboundMessage.objects.create(organisation=org, phone_hash="x" * 64, to="RELANCE", keyword="STOP",
                                         action=InboundMessage.Action.STOP, received_at=local_noon(org, days_ago))


class InsightsTestCase(RelanceTestCase):
    def as_(self, role, org=None):
        sign_in(self.client, self.world.users_a[role], org)
        return self.client

    def setUp(self):
        super().setUp()
        self.purpose = make_purpose(self.org_a, code="rappel-rdv")
        self.template = make_template(self.purpose)

    def message(self, org=None, **fields):
        org = org or self.org_a
        if org == self.org_a:
            fields.setdefault("purpose", self.purpose)
            fields.setdefault("template", self.template)
        return make_message(org, **fields)


class DashboardChartTests(InsightsTestCase):
    def build_fortnight(self):
        """Today: 2 delivered, 1 failed; 3 days ago: 1 sent, 2 suppressed (withdrawn, objected), 1 STOP;
        20 days ago (outside the window): 1 delivered; 5 days ago purged: 4 delivered, 1 suppressed."""
        for _ in range(2):
            set_message(self.message(), status="delivered", segments=1)
        set_message(self.message(), status="failed", reason="unknown_subscriber")
        set_message(self.message(), status="sent", days_ago=3)
        set_message(self.message(), status="suppressed", reason="withdrawn", days_ago=3)
        set_message(self.message(), status="suppressed", reason="objected", days_ago=3)
        set_message(self.message(), status="delivered", days_ago=20)
        stop(self.org_a, 3)
        purged_day = local_noon(self.org_a, 5).date()
        MessageStat.objects.create(organisation=self.org_a, day=purged_day, channel="sms", status="delivered", count=4)
        MessageStat.objects.create(organisation=self.org_a, day=purged_day, channel="sms", status="suppressed",
                                   reason="withdrawn", count=1)
        set_message(self.message(org=self.org_b), status="delivered")  # another organisation's

    def test_it_counts_each_day_like_the_data(self):
        """R-73/R-51: per day, live messages plus the statistics of purged ones; STOPs per day."""
        self.build_fortnight()
        data = stats.message_charts(self.org_a)
        charts = {c["metric"]: {bar["day"]: bar["value"] for bar in c["bars"]} for c in data["charts"]}
        today, three, five = (local_noon(self.org_a, n).date() for n in (0, 3, 5))
        assert charts["sent"][today] == 3 and charts["sent"][three] == 1 and charts["sent"][five] == 4
        assert charts["delivered"][today] == 2 and charts["delivered"][five] == 4
        assert charts["failed"][today] == 1
        assert charts["suppressed"][three] == 2 and charts["suppressed"][five] == 1
        assert charts["stops"][three] == 1
        assert len(data["days"]) == 14 and data["days"][-1] == today

    def test_its_totals_are_the_compliance_reports_and_the_sum_of_the_days(self):
        self.build_fortnight()
        data = stats.message_charts(self.org_a)
        totals = {c["metric"]: c["total"] for c in data["charts"]}
        assert totals == {"sent": 8, "delivered": 6, "failed": 1, "suppressed": 3, "stops": 1}
        for c in data["charts"]:
            assert sum(bar["value"] for bar in c["bars"]) == c["total"], c["metric"]

    def test_it_counts_suppressed_messages_by_reason_in_plain_words(self):
        """R-20: every message not sent keeps its reason; the dashboard names it."""
        self.build_fortnight()
        by_reason = {row["code"]: row["total"] for row in stats.message_charts(self.org_a)["by_reason"]}
        assert by_reason == {"withdrawn": 2, "objected": 1}
        with translation.override("fr"):
            page = text(self.as_(Role.OPERATOR).get(HOME))
        table = page[page.index('id="reasons-heading"'):]
        assert re.search(r"La personne a retiré son consentement</th><td class=\"num\">2<", table)

    def test_it_draws_the_charts_with_their_numbers_beside_them(self):
        self.build_fortnight()
        with translation.override("fr"):
            page = text(self.as_(Role.AUDITOR).get(HOME))
        assert page.count('<svg class="chart"') == 5
        delivered = page[page.index('id="chart-delivered-caption"'):page.index('id="chart-failed-caption"')]
        assert '<span class="number-big">6</span>' in delivered
        assert delivered.count("<rect ") == 2  # two days with deliveries: today and the purged day
        assert '<td class="num">4</td>' in delivered
        assert "Médiathèques A" in page and "Cabinet B" not in page

    def test_it_keeps_its_queries_few(self):
        self.build_fortnight()
        make_campaign(self.org_a)
        rights.open_request(self.org_a, actor=SYSTEM, kind="access", channel="staff")
        make_breach(self.org_a)
        client = self.as_(Role.ADMIN)
        client.get(HOME)
        with CaptureQueriesContext(connection) as queries:
            assert client.get(HOME).status_code == 200
        assert len(queries) <= 20, [q["sql"][:80] for q in queries]  # per-day figures grouped in the database


class AttentionTests(InsightsTestCase):
    def test_it_lists_requests_due_soon_and_makes_late_ones_stand_out(self):
        """R-41: due within 7 days or late, soonest first; a late one is marked."""
        now = timezone.now()
        late = rights.open_request(self.org_a, actor=SYSTEM, kind="erasure", channel="staff",
                                   received_at=now - timedelta(days=40))
        soon = rights.open_request(self.org_a, actor=SYSTEM, kind="access", channel="staff",
                                   received_at=now - timedelta(days=27))
        later = rights.open_request(self.org_a, actor=SYSTEM, kind="objection", channel="staff")
        done = rights.open_request(self.org_a, actor=SYSTEM, kind="access", channel="staff",
                                   received_at=now - timedelta(days=40))
        RightsRequest.objects.for_org(self.org_a).filter(pk=done.pk).update(status="completed", completed_at=now)
        with translation.override("fr"):
            page = text(self.as_(Role.DPO).get(HOME))
        panel = page[page.index('id="requests-due"'):page.index('id="open-breaches"')]
        assert late.reference in panel and soon.reference in panel
        assert later.reference not in panel and done.reference not in panel
        assert panel.index(late.reference) < panel.index(soon.reference)
        late_item = panel[panel.rfind("<li", 0, panel.index(late.reference)):panel.index(soon.reference)]
        assert 'class="late"' in late_item and "En retard" in late_item
        assert "en retard de" in late_item  # the time_left words

    def test_it_shows_the_breach_clock(self):
        """R-71: 72 hours from awareness; late once past; 24 h for an e-communications provider."""
        now = timezone.now()
        fresh = make_breach(self.org_a, title="Clé USB perdue", aware_at=now - timedelta(hours=10))
        old = make_breach(self.org_a, title="Serveur exposé", aware_at=now - timedelta(hours=80))
        items = {item["breach"].pk: item for item in stats.open_breaches(self.org_a, now)}
        assert items[fresh.pk]["hours_left"] == 62.0 and not items[fresh.pk]["late"]
        assert items[old.pk]["late"] and items[old.pk]["hours_late"] == 8.0 and items[old.pk]["window"] == 72
        with translation.override("fr"):
            page = text(self.as_(Role.ADMIN).get(HOME))
        panel = page[page.index('id="open-breaches"'):]
        assert "62" in panel and "h restantes" in panel and "il y a 8" in panel
        self.org_a.electronic_communications_provider = True
        self.org_a.save()
        items = {item["breach"].pk: item for item in stats.open_breaches(self.org_a, now)}
        assert items[fresh.pk]["window"] == 24 and items[fresh.pk]["hours_left"] == 14.0

    def test_it_hides_requests_and_breaches_from_operators(self):
        make_breach(self.org_a, title="Clé USB perdue")
        page = text(self.as_(Role.OPERATOR).get(HOME))
        assert "Clé USB perdue" not in page and 'id="requests-due"' not in page

    def test_it_shows_running_campaigns_with_their_progress(self):
        campaign = make_campaign(self.org_a, name="Fermeture lundi", purpose=self.purpose, template=self.template)
        from relance.messaging.models import Campaign
        Campaign.objects.for_org(self.org_a).filter(pk=campaign.pk).update(status="running", audience=4)
        for status in ("delivered", "sent", "scheduled"):
            m = self.message()
            Message.objects.for_org(self.org_a).filter(pk=m.pk).update(campaign=campaign, status=status)
        with translation.override("fr"):
            page = text(self.as_(Role.OPERATOR).get(HOME))
        section = page[page.index('id="campaigns-heading"'):]
        assert "Fermeture lundi" in section and 'max="4" value="2"' in section
        assert "2 envoyés sur 4, 1 en attente" in section


class OutboxTests(InsightsTestCase):
    def test_it_masks_recipients_for_an_auditor(self):
        """R-65: an auditor sees no digit of any number, and nothing is decrypted or audited."""
        contact = make_contact(self.org_a, phone="+33612345678")
        self.message(contact=contact)
        page = text(self.as_(Role.AUDITOR).get(MESSAGES))
        assert "12345678" not in page and "+336" not in page and "5678" not in page
        assert "masqué pour votre rôle" in page
        assert not AuditEvent.objects.filter(organisation=self.org_a, action="contact.read").exists()

    def test_it_shows_recipients_to_an_operator_as_one_audited_read(self):
        contact = make_contact(self.org_a, phone="+33612345678")
        self.message(contact=contact)
        self.message()
        page = text(self.as_(Role.OPERATOR).get(MESSAGES))
        assert "+33612345678" in page
        event = AuditEvent.objects.filter(organisation=self.org_a, action="contact.read").get()
        assert event.details["purpose"] == "outbox" and str(contact.pk) in event.details["contacts"]
        assert event.details["count"] == 2

    def test_it_gives_the_status_and_the_reason_in_plain_words(self):
        set_message(self.message(), status="suppressed", reason="objected")
        set_message(self.message(), status="failed", reason="smsc_weird_code")
        with translation.override("fr"):
            page = text(self.as_(Role.DPO).get(MESSAGES))
        assert "La personne s&#x27;est opposée" in page or "La personne s'est opposée" in page
        assert "smsc_weird_code" in page  # an unknown provider code stays visible

    def test_it_filters_by_status_channel_purpose_source_and_dates(self):
        other = make_purpose(self.org_a, code="autre-finalite")
        a = set_message(self.message(), status="delivered", days_ago=0)
        b = set_message(self.message(), status="suppressed", reason="withdrawn", days_ago=2)
        c = set_message(self.message(purpose=other, template=make_template(other)), status="delivered", days_ago=5)
        client = self.as_(Role.OPERATOR)

        def shown(**query):
            page = text(client.get(MESSAGES, query))
            return {m for m in (a, b, c) if reverse("backoffice:message_detail", args=[m.pk]) in page}

        assert shown() == {a, b, c}
        assert shown(status="suppressed") == {b}
        assert shown(purpose=other.pk) == {c}
        assert shown(channel="email") == set()
        day = local_noon(self.org_a, 2).date().isoformat()
        assert shown(created_from=day) == {a, b}
        assert shown(created_to=day) == {b, c}
        assert shown(created_from=day, created_to=day) == {b}

    def test_it_filters_by_origin(self):
        a = self.message()
        Message.objects.for_org(self.org_a).filter(pk=a.pk).update(source="event")
        b = self.message()
        client = self.as_(Role.OPERATOR)
        page = text(client.get(MESSAGES, {"source": "event"}))
        assert reverse("backoffice:message_detail", args=[a.pk]) in page
        assert reverse("backoffice:message_detail", args=[b.pk]) not in page

    def test_it_filters_by_campaign(self):
        campaign = make_campaign(self.org_a, purpose=self.purpose, template=self.template)
        a, b = self.message(), self.message()
        Message.objects.for_org(self.org_a).filter(pk=a.pk).update(campaign=campaign)
        page = text(self.as_(Role.OPERATOR).get(MESSAGES, {"campaign": campaign.pk}))
        assert reverse("backoffice:message_detail", args=[a.pk]) in page
        assert reverse("backoffice:message_detail", args=[b.pk]) not in page

    def test_it_pages_newest_first_and_keeps_the_filters(self):
        ids = [str(set_message(self.message(), status="delivered", days_ago=n % 3).pk) for n in range(52)]
        set_message(self.message(), status="failed")
        client = self.as_(Role.OPERATOR)
        first = text(client.get(MESSAGES, {"status": "delivered"}))
        assert "status=delivered&amp;page=2" in first
        second = text(client.get(MESSAGES, {"status": "delivered", "page": 2}))
        shown = re.findall(r'href="/app/messages/([0-9a-f-]{36})/"', second)
        oldest = [i for n, i in enumerate(ids) if n % 3 == 2]  # created two days ago
        assert len(shown) == 2 and set(shown) <= set(oldest)

    def test_it_never_shows_another_organisations_messages(self):
        """R-63."""
        mine = self.message()
        theirs = make_message(self.org_b)
        page = text(self.as_(Role.ADMIN).get(MESSAGES))
        assert reverse("backoffice:message_detail", args=[mine.pk]) in page
        assert reverse("backoffice:message_detail", args=[theirs.pk]) not in page
        url = reverse("backoffice:message_detail", args=[theirs.pk])
        assert self.client.get(url).status_code == 404
        assert self.client.get(MESSAGES, {"purpose": theirs.purpose_id}).status_code == 200


class MessageDetailTests(InsightsTestCase):
    def sent_message(self):
        contact = make_contact(self.org_a, phone="+33698765432", first_name="Zoé")
        message = self.message(contact=contact, params={"time": "14:30"})
        Message.objects.for_org(self.org_a).filter(pk=message.pk).update(
            status="delivered", provider="console", provider_ref="REF-42", segments=1, encoding="gsm7")
        message.refresh_from_db()
        message.body = "Bonjour Zoé, rendez-vous à 14:30."
        message.save()
        now = timezone.now()
        MessageEvent.objects.create(organisation=self.org_a, message=message, at=now, kind="sent",
                                    detail={"provider": "console"})
        MessageEvent.objects.create(organisation=self.org_a, message=message, at=now, kind="delivered")
        return message

    def test_it_hides_the_text_and_the_number_from_an_auditor(self):
        message = self.sent_message()
        url = reverse("backoffice:message_detail", args=[message.pk])
        with translation.override("fr"):
            page = text(self.as_(Role.AUDITOR).get(url, {"show": "text"}))
        assert "Bonjour Zoé" not in page and "98765432" not in page
        assert "masqué pour votre rôle" in page
        assert "REF-42" in page and "Remis au téléphone" in page  # timeline, provider and reference
        assert not AuditEvent.objects.filter(organisation=self.org_a,
                                             action__in=["message.content_read", "contact.read"]).exists()

    def test_it_shows_the_text_to_an_admin_who_asks_and_audits_it(self):
        message = self.sent_message()
        url = reverse("backoffice:message_detail", args=[message.pk])
        client = self.as_(Role.ADMIN)
        page = text(client.get(url))
        assert "+33698765432" in page and "Bonjour Zoé" not in page
        assert not AuditEvent.objects.filter(organisation=self.org_a, action="message.content_read").exists()
        page = text(client.get(url, {"show": "text"}))
        assert "Bonjour Zoé, rendez-vous à 14:30." in page
        read = AuditEvent.objects.filter(organisation=self.org_a, action="message.content_read").get()
        assert read.target_id == str(message.pk)
        assert AuditEvent.objects.filter(organisation=self.org_a, action="contact.read",
                                         target_id=str(message.recipient_id)).exists()

    def test_it_shows_the_timeline_with_reasons(self):
        message = self.message()
        MessageEvent.objects.create(organisation=self.org_a, message=message, at=timezone.now(), kind="suppressed",
                                    reason="not_informed", rule="R-04")
        with translation.override("fr"):
            page = text(self.as_(Role.OPERATOR).get(reverse("backoffice:message_detail", args=[message.pk])))
        assert "jamais été informée" in page and "R-04" in page and "Planifié" in page


class AuditViewerTests(InsightsTestCase):
    def test_it_names_actions_in_plain_words_and_filters_them(self):
        """R-65: actor, action, target, time; filters by action, actor and day."""
        from relance.testing import make_site

        make_site(self.org_a, name="Annexe")
        url = reverse("backoffice:audit")
        with translation.override("fr"):
            page = text(self.as_(Role.AUDITOR).get(url, {"action": "site.created"}))
        table = page[page.index('<table class="audit">'):]
        assert "Site créé" in table and "Organisation créée" not in table
        with translation.override("fr"):
            page = text(self.client.get(url, {"actor": "system:"}))
        assert "Organisation créée" in page[page.index('<table class="audit">'):]
        tomorrow = (timezone.now() + timedelta(days=2)).date().isoformat()
        assert "Aucun événement ne correspond" in text(self.client.get(url, {"day_from": tomorrow}))

    def test_it_shows_the_last_verification(self):
        client = self.as_(Role.ADMIN)
        url = reverse("backoffice:audit")
        assert "pas encore été vérifiée" in text(client.get(url))
        client.post(reverse("backoffice:audit_verify"))
        page = text(client.get(url))
        assert "audit-verified" in page and "le journal était intact" in page
