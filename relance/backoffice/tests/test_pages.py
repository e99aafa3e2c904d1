"""Back-office pages: dashboard, organisation, sites, members, API keys, audit (R-63, R-65)."""

from django.db import connection
from django.urls import reverse

from relance.accounts import services as accounts
from relance.accounts.middleware import SESSION_ORG
from relance.accounts.models import ApiKey, Membership, Role, Site
from relance.audit.models import AuditEvent
from relance.testing import SYSTEM, RelanceTestCase, make_org, make_site, make_user

from .helpers import HOME, sign_in, text


class PageTestCase(RelanceTestCase):
    def as_(self, role, org=None):
        self.user = self.world.users_a[role]
        sign_in(self.client, self.user, org)
        return self.client


class DashboardTests(PageTestCase):
    def test_it_shows_the_organisation_role_and_counts(self):
        make_site(self.org_a)
        page = text(self.as_(Role.ADMIN).get(HOME))
        assert self.org_a.name in page
        assert "Réseau de bibliothèques" in page and "Administrateur" in page
        assert '<span class="number">4</span> membres' in page
        assert '<span class="number">1</span> site' in page
        assert "<span class=\"number\">1</span> clé d'API active" in page

    def test_it_shows_only_the_menu_entries_the_role_allows(self):
        page = text(self.as_(Role.OPERATOR).get(HOME))
        assert reverse("backoffice:sites") in page
        assert reverse("backoffice:apikeys") not in page and reverse("backoffice:audit") not in page


class OrganisationTests(PageTestCase):
    def test_it_shows_dpo_contact_only_to_roles_that_see_members(self):
        url = reverse("backoffice:organisation")
        assert self.org_a.dpo_email not in text(self.as_(Role.OPERATOR).get(url))
        assert self.org_a.dpo_email in text(self.as_(Role.DPO).get(url))

    def test_it_lets_only_administrators_edit_the_settings(self):
        url = reverse("backoffice:organisation_edit")
        assert self.as_(Role.DPO).get(url).status_code == 403
        client = self.as_(Role.ADMIN)
        form = {"name": "Réseau des médiathèques", "kind": "library", "country": "fr", "time_zone": "Europe/Paris",
                "languages": ["fr", "en"], "dpo_name": "Claire Dpo", "dpo_email": "dpo@example.org", "dpo_phone": ""}
        response = client.post(url, form)
        assert response.status_code == 302
        self.org_a.refresh_from_db()
        assert self.org_a.name == "Réseau des médiathèques" and self.org_a.dpo_email == "dpo@example.org"
        event = AuditEvent.objects.filter(chain=f"org:{self.org_a.pk}", action="organisation.updated").last()
        assert "name" in event.details["fields"] and "languages" not in event.details["fields"]

    def test_it_shows_service_errors_on_the_fields(self):
        client = self.as_(Role.ADMIN)
        form = {"name": "A", "kind": "library", "country": "FR", "time_zone": "Europe/Paris", "languages": ["fr"],
                "dpo_phone": "12"}
        page = text(client.post(reverse("backoffice:organisation_edit"), form))
        assert 'aria-invalid="true" aria-describedby="id_dpo_phone_error"' in page
        assert "Ce numéro de téléphone n&#x27;est pas valide pour son pays." in page


class SiteTests(PageTestCase):
    def test_it_creates_and_edits_sites(self):
        client = self.as_(Role.ADMIN)
        response = client.post(reverse("backoffice:site_create"), {"name": "Médiathèque Nord", "code": "nord"})
        assert response.status_code == 302
        site = Site.objects.for_org(self.org_a).get(code="nord")
        edit = reverse("backoffice:site_edit", kwargs={"site_id": site.pk})
        assert client.post(edit, {"name": "Médiathèque du Nord", "address": "1 rue des Livres"}).status_code == 302
        site.refresh_from_db()
        assert site.name == "Médiathèque du Nord" and site.address == "1 rue des Livres"
        assert "Médiathèque du Nord" in text(client.get(reverse("backoffice:sites")))

    def test_it_puts_a_duplicate_code_error_on_the_code_field(self):
        make_site(self.org_a, code="centre")
        page = text(self.as_(Role.ADMIN).post(reverse("backoffice:site_create"), {"name": "Centre", "code": "centre"}))
        assert "Un site avec ce code existe déjà." in page
        assert 'aria-invalid="true"' in page.split('name="code"')[0][-300:] + page.split('name="code"')[1][:300]

    def test_it_refuses_operators_to_create_sites(self):
        assert self.as_(Role.OPERATOR).get(reverse("backoffice:site_create")).status_code == 403


class MemberTests(PageTestCase):
    def test_it_adds_an_existing_user_by_email(self):
        newcomer = make_user(None)
        client = self.as_(Role.ADMIN)
        response = client.post(reverse("backoffice:member_add"), {"email": newcomer.test_email.upper(), "role": "auditor"})
        assert response.status_code == 302
        assert Membership.objects.for_org(self.org_a).get(user=newcomer).role == Role.AUDITOR

    def test_it_says_when_no_account_uses_the_address(self):
        form = {"email": "ghost@example.org", "role": "operator"}
        page = text(self.as_(Role.ADMIN).post(reverse("backoffice:member_add"), form))
        assert "Aucun compte Relance n&#x27;utilise cette adresse" in page

    def test_it_changes_a_role_and_keeps_one_administrator(self):
        client = self.as_(Role.ADMIN)
        operator = Membership.objects.for_org(self.org_a).get(user=self.world.users_a[Role.OPERATOR])
        url = reverse("backoffice:member_role", kwargs={"membership_id": operator.pk})
        assert client.post(url, {"role": "dpo"}).status_code == 302
        operator.refresh_from_db()
        assert operator.role == Role.DPO
        me = Membership.objects.for_org(self.org_a).get(user=self.user)
        refused = client.post(reverse("backoffice:member_role", kwargs={"membership_id": me.pk}), {"role": "operator"})
        assert refused.status_code == 200
        assert "Une organisation garde au moins un administrateur." in text(refused)

    def test_it_removes_a_member_by_post(self):
        client = self.as_(Role.ADMIN)
        auditor = Membership.objects.for_org(self.org_a).get(user=self.world.users_a[Role.AUDITOR])
        url = reverse("backoffice:member_remove", kwargs={"membership_id": auditor.pk})
        assert client.get(url).status_code == 200  # the confirmation page
        assert Membership.objects.for_org(self.org_a).filter(pk=auditor.pk).exists()
        assert client.post(url).status_code == 302
        assert not Membership.objects.for_org(self.org_a).filter(pk=auditor.pk).exists()

    def test_it_lets_auditors_read_but_not_change_members(self):
        client = self.as_(Role.AUDITOR)
        assert client.get(reverse("backoffice:members")).status_code == 200
        assert client.get(reverse("backoffice:member_add")).status_code == 403


class ApiKeyTests(PageTestCase):
    def test_it_shows_the_secret_once(self):
        client = self.as_(Role.ADMIN)
        response = client.post(reverse("backoffice:apikey_create"), {"name": "Agenda", "scopes": ["contacts:write"]})
        assert response.status_code == 200
        assert "no-store" in response["Cache-Control"]
        key = ApiKey.objects.for_org(self.org_a).get(name="Agenda")
        page = text(response)
        secret = page.split('id="api-secret"')[1].split('value="')[1].split('"')[0]
        assert secret.startswith(f"rlk_{key.prefix}_") and accounts.authenticate_api_key(secret) == key
        listing = text(client.get(reverse("backoffice:apikeys")))
        assert key.prefix in listing and secret not in listing
        assert key.created_by_id == self.user.pk

    def test_it_refuses_unknown_scopes_and_needs_a_name(self):
        response = self.as_(Role.ADMIN).post(reverse("backoffice:apikey_create"), {"name": "", "scopes": ["root"]})
        assert response.status_code == 200 and 'aria-invalid="true"' in text(response)
        assert not ApiKey.objects.for_org(self.org_a).filter(name="").exists()

    def test_it_revokes_a_key_by_post(self):
        client = self.as_(Role.ADMIN)
        key = ApiKey.objects.for_org(self.org_a).get()
        url = reverse("backoffice:apikey_revoke", kwargs={"apikey_id": key.pk})
        client.get(url)
        key.refresh_from_db()
        assert key.revoked_at is None
        assert client.post(url).status_code == 302
        key.refresh_from_db()
        assert key.revoked_at is not None and accounts.authenticate_api_key(self.world.key_a) is None

    def test_it_keeps_api_keys_to_administrators(self):
        for role in (Role.DPO, Role.OPERATOR, Role.AUDITOR):
            assert self.as_(role).get(reverse("backoffice:apikeys")).status_code == 403


class AuditTests(PageTestCase):
    def test_it_lists_the_organisation_events_newest_first(self):
        make_site(self.org_a, name="Zeta")
        make_site(self.org_b, name="Other")
        page = text(self.as_(Role.AUDITOR).get(reverse("backoffice:audit")))
        page = page[page.index('<table class="audit">'):]  # the filter's list of actions comes before
        assert page.index("site.created") < page.index("organisation.created")
        assert f"accounts.site {Site.objects.for_org(self.org_b).get().pk}" not in page

    def test_it_pages_long_trails(self):
        for n in range(55):
            make_site(self.org_a, code=f"s{n}")
        client = self.as_(Role.DPO)
        first = text(client.get(reverse("backoffice:audit")))
        assert "?page=2" in first
        assert "organisation.created" in text(client.get(reverse("backoffice:audit") + "?page=2"))

    def test_it_verifies_the_chain_and_reports_a_break(self):
        client = self.as_(Role.ADMIN)
        verify = reverse("backoffice:audit_verify")
        assert client.get(verify).status_code == 405
        assert "intact" in text(client.post(verify, follow=True))
        event = AuditEvent.objects.filter(chain=f"org:{self.org_a.pk}").order_by("seq").first()
        with connection.cursor() as cursor:
            cursor.execute(f"UPDATE {AuditEvent._meta.db_table} SET action = %s WHERE id = %s", ["tampered", event.pk])
        assert "rompu" in text(client.post(verify, follow=True))


class OrganisationSwitchTests(PageTestCase):
    def test_it_switches_only_between_the_users_own_organisations(self):
        """R-63: the switcher cannot enter an organisation the user is not a member of."""
        user = self.world.users_a[Role.OPERATOR]
        accounts.add_member(self.org_b, user, Role.AUDITOR, actor=SYSTEM)
        foreign = make_org("company", name="Entreprise C")
        sign_in(self.client, user, self.org_a)
        switch = reverse("backoffice:switch_organisation")
        assert self.client.post(switch, {"organisation": self.org_b.pk}).status_code == 302
        assert self.client.session[SESSION_ORG] == self.org_b.pk
        assert "Cabinet B" in text(self.client.get(HOME))
        assert self.client.post(switch, {"organisation": foreign.pk}).status_code == 404
        assert self.client.post(switch, {"organisation": "x"}).status_code == 404
        assert self.client.session[SESSION_ORG] == self.org_b.pk
        assert "Entreprise C" not in text(self.client.get(HOME))
        assert AuditEvent.objects.filter(chain=f"org:{self.org_b.pk}", action="auth.organisation_switched").exists()

    def test_it_shows_the_switcher_only_with_several_memberships(self):
        client = self.as_(Role.OPERATOR)
        assert 'id="org-switch"' not in text(client.get(HOME))
        accounts.add_member(self.org_b, self.user, Role.AUDITOR, actor=SYSTEM)
        assert 'id="org-switch"' in text(client.get(HOME))

    def test_it_tells_a_user_without_organisation_to_ask_for_access(self):
        loner = make_user(None)
        sign_in(self.client, loner)
        assert "membre d'aucune organisation" in text(self.client.get(HOME))
        assert self.client.get(reverse("backoffice:sites")).status_code == 403
