"""Back-office settings area: providers (SPEC §5, R-70), outgoing webhooks, the sending settings
(R-22, R-25, R-26, R-30, R-34), imports with their dry-run report (R-04, R-15, R-31), members and
roles. Every write goes through its service and leaves its audit event (R-65); secrets are never
echoed (R-60, R-61); another organisation's objects answer 404 (R-63)."""

from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from relance.accounts.models import Role
from relance.audit.models import AuditEvent
from relance.contacts.models import Contact
from relance.imports.models import ImportBatch
from relance.messaging.sending import settings_for
from relance.providers import services as providers
from relance.providers.locmem import LocmemProvider
from relance.providers.models import ProviderAccount
from relance.testing import SYSTEM, RelanceTestCase
from relance.webhooks.models import WebhookEndpoint
from relance.webhooks.tests.builders import make_delivery, make_endpoint

from ..views.settings import pending
from .helpers import sign_in, text

TWILIO_TOKEN = "tw-secret-token-0123456789abcdef"


def events(org, action):
    return AuditEvent.objects.filter(chain=f"org:{org.pk}", action=action)


class SettingsTestCase(RelanceTestCase):
    def as_(self, role, org=None):
        self.user = (self.world.users_a if org in (None, self.org_a) else self.world.users_b)[role]
        sign_in(self.client, self.user, org)
        return self.client


class ProviderPageTests(SettingsTestCase):
    def create_twilio(self, client):
        form = {"kind": "twilio", "name": "Twilio main", "priority": "10", "rate_per_second": "5", "country": "us",
                "hosting_region": "", "enabled": "on", "cred_account_sid": "AC123", "cred_auth_token": TWILIO_TOKEN,
                "cred_messaging_service_sid": "", "opt_sender": "MEDIATHEQ"}
        return client.post(reverse("backoffice:provider_create"), form)

    def test_it_creates_an_account_through_the_service_and_never_shows_the_secret(self):
        """SPEC §5, R-60: credentials are sealed and write-only; the audit event names no credential."""
        client = self.as_(Role.ADMIN)
        response = self.create_twilio(client)
        account = ProviderAccount.objects.for_org(self.org_a).get(name="Twilio main")
        assert response.status_code == 302 and response.url == reverse(
            "backoffice:provider_detail", kwargs={"provideraccount_id": account.pk})
        assert account.secrets() == {"account_sid": "AC123", "auth_token": TWILIO_TOKEN}
        assert (account.kind, account.priority, account.country, account.options) == ("twilio", 10, "US",
                                                                                        {"sender": "MEDIATHEQ"})
        event = events(self.org_a, "provider.account_created").get()
        assert TWILIO_TOKEN not in str(event.details)
        detail = text(client.get(response.url))
        edit = text(client.get(reverse("backoffice:provider_edit", kwargs={"provideraccount_id": account.pk})))
        listing = text(client.get(reverse("backoffice:providers")))
        for page in (detail, edit, listing):
            assert TWILIO_TOKEN not in page
        assert "AC123" in edit  # an identifier, shown back
        assert f"/hooks/twilio/{account.webhook_token}/receipts" in detail
        assert "outside" in listing or "hors" in listing  # US: a transfer outside the EEA

    def test_it_keeps_a_secret_left_empty_when_editing(self):
        client = self.as_(Role.ADMIN)
        self.create_twilio(client)
        account = ProviderAccount.objects.for_org(self.org_a).get()
        form = {"kind": "twilio", "name": "Twilio main", "priority": "20", "rate_per_second": "0", "country": "US",
                "enabled": "", "cred_account_sid": "AC123", "cred_auth_token": "", "opt_sender": ""}
        response = client.post(reverse("backoffice:provider_edit", kwargs={"provideraccount_id": account.pk}), form)
        assert response.status_code == 302
        account.refresh_from_db()
        assert account.secrets()["auth_token"] == TWILIO_TOKEN
        assert (account.priority, account.enabled, account.options) == (20, False, {})
        assert events(self.org_a, "provider.account_updated").get().details["changed"] == \
            "country,enabled,hosting_region,name,options,priority,rate_per_second"

    def test_it_shows_the_services_errors_on_the_form(self):
        client = self.as_(Role.ADMIN)
        form = {"kind": "twilio", "name": "T", "priority": "1", "rate_per_second": "0", "country": "F1",
                "cred_account_sid": "AC1", "cred_auth_token": "x"}
        page = text(client.post(reverse("backoffice:provider_create"), form))
        assert 'aria-invalid="true"' in page and not ProviderAccount.objects.for_org(self.org_a).exists()

    def test_it_offers_the_kinds_before_the_form(self):
        page = text(self.as_(Role.ADMIN).get(reverse("backoffice:provider_create")))
        for kind in ("smpp", "twilio", "vonage", "ovh", "brevo", "django"):
            assert f"?kind={kind}" in page

    def test_it_sends_a_test_message_through_the_account_only(self):
        """The test goes to the provider of this account; the audit keeps the outcome, not the number."""
        LocmemProvider.reset()
        account = providers.create_account(self.org_a, name="Memory", kind="locmem", credentials={}, actor=SYSTEM)
        client = self.as_(Role.ADMIN)
        url = reverse("backoffice:provider_test", kwargs={"provideraccount_id": account.pk})
        response = client.post(url, {"to": "06 12 34 56 78"})
        assert response.status_code == 200
        assert [m.to for m in LocmemProvider.outbox] == ["+33612345678"]
        event = events(self.org_a, "provider.tested").get()
        assert event.details["status"] == "sent" and "612345678" not in str(event.details)
        refused = client.post(url, {"to": "01 42 68 53 00"})  # a landline cannot receive SMS
        assert 'aria-invalid="true"' in text(refused) and len(LocmemProvider.outbox) == 1

    def test_it_is_for_administrators_only(self):
        account = providers.create_account(self.org_a, name="Memory", kind="locmem", credentials={}, actor=SYSTEM)
        for role in (Role.DPO, Role.OPERATOR, Role.AUDITOR):
            client = self.as_(role)
            assert client.get(reverse("backoffice:providers")).status_code == 403
            assert client.get(reverse("backoffice:provider_detail",
                                      kwargs={"provideraccount_id": account.pk})).status_code == 403

    def test_another_organisations_account_is_not_found(self):
        """R-63."""
        theirs = providers.create_account(self.org_b, name="Theirs", kind="locmem", credentials={}, actor=SYSTEM)
        client = self.as_(Role.ADMIN)
        for name in ("provider_detail", "provider_edit", "provider_test"):
            assert client.get(reverse(f"backoffice:{name}", kwargs={"provideraccount_id": theirs.pk})).status_code == 404
        assert "Theirs" not in text(client.get(reverse("backoffice:providers")))


class WebhookPageTests(SettingsTestCase):
    def test_it_shows_the_secret_once_at_creation(self):
        client = self.as_(Role.ADMIN)
        form = {"url": "https://example.org/hooks/relance", "events": ["contact.erased", "consent.withdrawn"],
                "description": "Agenda"}
        response = client.post(reverse("backoffice:webhook_create"), form)
        endpoint = WebhookEndpoint.objects.for_org(self.org_a).get()
        assert endpoint.events == ["consent.withdrawn", "contact.erased"]
        assert endpoint.secret in text(response) and response["Cache-Control"].startswith("max-age=0")
        detail = text(client.get(reverse("backoffice:webhook_detail", kwargs={"webhookendpoint_id": endpoint.pk})))
        assert endpoint.secret not in detail and endpoint.secret not in text(client.get(reverse("backoffice:webhooks")))
        assert events(self.org_a, "webhook.endpoint_created").exists()

    def test_it_refuses_a_plain_http_address_with_the_services_message(self):
        client = self.as_(Role.ADMIN)
        page = text(client.post(reverse("backoffice:webhook_create"),
                                {"url": "http://example.org/hooks", "events": ["*"]}))
        assert "https://" in page and 'aria-invalid="true"' in page
        assert not WebhookEndpoint.objects.for_org(self.org_a).exists()

    def test_it_rotates_the_secret_and_shows_the_new_one_once(self):
        endpoint = make_endpoint(self.org_a)
        old = endpoint.secret
        client = self.as_(Role.ADMIN)
        url = reverse("backoffice:webhook_rotate", kwargs={"webhookendpoint_id": endpoint.pk})
        assert client.get(url).status_code == 200 and old not in text(client.get(url))
        page = text(client.post(url))
        endpoint.refresh_from_db()
        assert endpoint.secret != old and endpoint.secret in page
        assert events(self.org_a, "webhook.secret_rotated").exists()

    def test_it_disables_and_enables_an_endpoint(self):
        endpoint = make_endpoint(self.org_a)
        client = self.as_(Role.ADMIN)
        url = reverse("backoffice:webhook_disable", kwargs={"webhookendpoint_id": endpoint.pk})
        assert client.post(url, {"enable": "0"}).status_code == 302
        endpoint.refresh_from_db()
        assert not endpoint.enabled and events(self.org_a, "webhook.endpoint_disabled").exists()
        client.post(url, {"enable": "1"})
        endpoint.refresh_from_db()
        assert endpoint.enabled

    def test_it_lists_the_deliveries_with_status_and_attempts(self):
        delivery = make_delivery(self.org_a)
        client = self.as_(Role.ADMIN)
        url = reverse("backoffice:webhook_detail", kwargs={"webhookendpoint_id": delivery.endpoint_id})
        page = text(client.get(url))
        assert "contact.erased" in page and "badge-warn" in page
        assert "contact.erased" not in text(client.get(url + "?status=delivered"))

    def test_it_is_for_administrators_and_isolated(self):
        theirs = make_endpoint(self.org_b)
        assert self.as_(Role.DPO).get(reverse("backoffice:webhooks")).status_code == 403
        client = self.as_(Role.ADMIN)
        for name in ("webhook_detail", "webhook_rotate", "webhook_disable"):
            url = reverse(f"backoffice:{name}", kwargs={"webhookendpoint_id": theirs.pk})
            assert client.get(url).status_code == 404 and client.post(url).status_code == 404


class SendingSettingsPageTests(SettingsTestCase):
    def form(self, **changes):
        values = {"sms_sender": "MEDIATHEQ", "stop_mention": "STOP au 36111", "email_from": "",
                  "stop_words": "", "start_words": "", "info_words": "",
                  "service_days": ["0", "1", "2", "3", "4", "5", "6"], "service_start": "08:00", "service_end": "21:00",
                  "promotional_days": ["0", "1", "2", "3", "4", "5"], "promotional_start": "08:00",
                  "promotional_end": "20:00", "promotional_exclude_holidays": "on", "holiday_subdivision": "",
                  "stop_rate_threshold": "2"}
        values.update(changes)
        return {name: value for name, value in values.items() if value is not None}

    def test_every_role_reads_them_and_only_admins_change_them(self):
        for role in (Role.AUDITOR, Role.OPERATOR):
            client = self.as_(role)
            page = text(client.get(reverse("backoffice:sending_settings")))
            assert "STOP" in page and reverse("backoffice:sending_settings_edit") not in page
            assert client.get(reverse("backoffice:sending_settings_edit")).status_code == 403
        assert reverse("backoffice:sending_settings_edit") in text(
            self.as_(Role.ADMIN).get(reverse("backoffice:sending_settings")))

    def test_it_saves_sender_windows_and_keywords_through_the_service(self):
        """R-22 windows, R-25 mention, R-30 keywords, R-34 threshold: one audit event naming the fields."""
        client = self.as_(Role.ADMIN)
        form = self.form(promotional_days=["0", "1", "2", "3", "4"], promotional_start="09:00",
                         promotional_end="19:00", stop_words="BASTA, ASSEZ", stop_rate_threshold="1.5",
                         allow_transliteration="on")
        response = client.post(reverse("backoffice:sending_settings_edit"), form)
        assert response.status_code == 302
        sending = settings_for(self.org_a)
        assert sending.sms_sender == "MEDIATHEQ" and sending.stop_mention == "STOP au 36111"
        assert sending.windows["promotional"] == {"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "19:00",
                                                  "exclude_holidays": True}
        assert sending.keywords == {"stop": ["BASTA", "ASSEZ"]}
        assert str(sending.stop_rate_threshold) == "1.50" and sending.allow_transliteration
        event = events(self.org_a, "sending_settings.updated").get()
        assert "windows" in event.details["fields"] and "keywords" in event.details["fields"]
        page = text(client.get(reverse("backoffice:sending_settings")))
        assert "BASTA" in page and "09:00" in page

    def test_it_shows_the_services_errors_next_to_the_fields(self):
        """R-25: an opt-out mention that names no keyword is refused by the service."""
        client = self.as_(Role.ADMIN)
        page = text(client.post(reverse("backoffice:sending_settings_edit"),
                                self.form(stop_mention="Écrivez-nous", sms_sender="A B")))
        assert page.count('aria-invalid="true"') >= 2
        assert not events(self.org_a, "sending_settings.updated").exists()

    def test_it_refuses_a_window_that_ends_before_it_starts(self):
        client = self.as_(Role.ADMIN)
        page = text(client.post(reverse("backoffice:sending_settings_edit"),
                                self.form(service_start="21:00", service_end="08:00")))
        assert 'aria-invalid="true"' in page and settings_for(self.org_a).windows == {}


CSV = ("prénom;nom;téléphone;référence\n"
       "Jeanne;Martin;06 12 34 56 78;R1\n"
       "Paul;Durand;01 42 68 53 00;R2\n"
       "Zoé;Petit;06 98 76 54 32;R1\n"
       "Luc;Bernard;06 11 22 33 44;R4\n").encode()


class ImportPageTests(SettingsTestCase):
    def upload(self, client, data=CSV, mode="good_rows_only"):
        upload = SimpleUploadedFile("contacts.csv", data, content_type="text/csv")
        return client.post(reverse("backoffice:import_create"), {"file": upload, "mode": mode, "purpose": ""})

    def test_the_dry_run_reports_every_bad_row_and_writes_no_contact(self):
        """The report shows line numbers and reasons in plain words, duplicates too; nothing is imported."""
        client = self.as_(Role.OPERATOR)
        response = self.upload(client)
        batch = ImportBatch.objects.for_org(self.org_a).get()
        assert response.status_code == 302 and response.url == reverse("backoffice:import_detail",
                                                                       kwargs={"import_id": batch.pk})
        assert batch.dry_run and (batch.rows, batch.valid, batch.invalid) == (4, 2, 2)
        assert not Contact.objects.for_org(self.org_a).exists()
        page = text(client.get(response.url))
        for problem in batch.report["problems"]:
            assert f"<td>{problem['line']}</td>" in page
        lines = {p["line"]: p["code"] for p in batch.report["problems"]}
        assert lines == {3: "not_mobile", 4: "duplicate_ref"}
        assert "06 12 34 56 78" not in page and "Jeanne" not in page  # the report repeats no value
        assert reverse("backoffice:import_run", kwargs={"import_id": batch.pk}) in page

    def test_running_it_imports_the_good_rows_and_shreds_the_kept_file(self):
        client = self.as_(Role.OPERATOR)
        self.upload(client)
        dry = ImportBatch.objects.for_org(self.org_a).get()
        sealed = Path(settings.VAR_DIR) / "pending-imports" / f"{dry.pk}.sealed"
        assert sealed.exists() and b"Jeanne" not in sealed.read_bytes()  # sealed at rest
        response = client.post(reverse("backoffice:import_run", kwargs={"import_id": dry.pk}))
        real = ImportBatch.objects.for_org(self.org_a).get(dry_run=False)
        assert response.url == reverse("backoffice:import_detail", kwargs={"import_id": real.pk})
        assert real.status == ImportBatch.Status.IMPORTED and real.created == 2
        assert Contact.objects.for_org(self.org_a).count() == 2
        assert not sealed.exists()
        assert events(self.org_a, "import.completed").exists()
        again = client.post(reverse("backoffice:import_run", kwargs={"import_id": dry.pk}))
        assert again.status_code == 302 and Contact.objects.for_org(self.org_a).count() == 2
        dry_page = text(client.get(reverse("backoffice:import_detail", kwargs={"import_id": dry.pk})))
        assert reverse("backoffice:import_detail", kwargs={"import_id": real.pk}) in dry_page

    def test_all_or_nothing_offers_no_run_when_a_row_is_bad(self):
        client = self.as_(Role.OPERATOR)
        self.upload(client, mode="all_or_nothing")
        dry = ImportBatch.objects.for_org(self.org_a).get()
        page = text(client.get(reverse("backoffice:import_detail", kwargs={"import_id": dry.pk})))
        assert reverse("backoffice:import_run", kwargs={"import_id": dry.pk}) not in page

    def test_a_file_that_cannot_be_read_is_refused_on_the_form(self):
        page = text(self.upload(self.as_(Role.OPERATOR), data=b""))
        assert 'aria-invalid="true"' in page and not ImportBatch.objects.for_org(self.org_a).exists()

    def test_only_the_session_that_checked_the_file_can_run_it(self):
        self.upload(self.as_(Role.OPERATOR))
        dry = ImportBatch.objects.for_org(self.org_a).get()
        other = self.client_class()
        sign_in(other, self.world.users_a[Role.ADMIN], self.org_a)
        response = other.post(reverse("backoffice:import_run", kwargs={"import_id": dry.pk}))
        assert response.url == reverse("backoffice:import_create")
        assert not Contact.objects.for_org(self.org_a).exists()

    def test_the_background_import_shows_its_progress_then_its_report(self):
        """Long imports run in a thread; its page shows where it is (here the thread is run at once)."""
        from ..views.settings import imports

        client = self.as_(Role.OPERATOR)
        self.upload(client)
        dry = ImportBatch.objects.for_org(self.org_a).get()
        started = []
        original = imports.threading.Thread

        class Now:
            def __init__(self, target, **kwargs):
                self.target = target

            def start(self):
                started.append(True)
                page = text(client.get(reverse("backoffice:import_detail", kwargs={"import_id": dry.pk})))
                assert "<progress" in page and 'http-equiv="refresh"' in page
                self.target()

        # Run here, the thread would close its own connection when done: not the test's.
        saved = imports.INLINE_ROWS, imports.release_connections
        imports.threading.Thread, imports.INLINE_ROWS, imports.release_connections = Now, 1, lambda: None
        try:
            client.post(reverse("backoffice:import_run", kwargs={"import_id": dry.pk}))
        finally:
            imports.threading.Thread = original
            imports.INLINE_ROWS, imports.release_connections = saved
        assert started and Contact.objects.for_org(self.org_a).count() == 2
        page = text(client.get(reverse("backoffice:import_detail", kwargs={"import_id": dry.pk})))
        assert "<progress" not in page
        real = ImportBatch.objects.for_org(self.org_a).get(dry_run=False)
        assert reverse("backoffice:import_detail", kwargs={"import_id": real.pk}) in page

    def test_auditors_cannot_import_and_other_organisations_imports_are_not_found(self):
        assert self.as_(Role.AUDITOR).get(reverse("backoffice:imports")).status_code == 403
        from relance.imports.tests.files import make_import

        theirs = make_import(self.org_b)
        client = self.as_(Role.OPERATOR)
        for name in ("import_detail", "import_run"):
            assert client.get(reverse(f"backoffice:{name}", kwargs={"import_id": theirs.pk})).status_code == 404

    def tearDown(self):
        pending._clean_old()
        super().tearDown()


class MemberMatrixTests(SettingsTestCase):
    def test_the_role_pages_explain_the_permission_matrix(self):
        client = self.as_(Role.ADMIN)
        for url in (reverse("backoffice:members"), reverse("backoffice:member_add")):
            page = text(client.get(url))
            assert page.count('<th scope="row">') >= 20  # one row per action of the matrix
