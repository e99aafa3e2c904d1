"""Back-office URLs (/app/). Object ids are named `<model>_id`: the tenant-isolation test
substitutes other organisations' objects into them and expects 404 (R-63)."""

from django.urls import path

from .views import (
    apikeys,
    audit,
    auth,
    content,
    dashboard,
    insights,
    members,
    organisation,
    people,
    phone,
    privacy,
    second_factor,
    sending,
    settings,
    sites,
)

app_name = "backoffice"

urlpatterns = [
    path("", dashboard.home, name="home"),
    # signing in
    path("login/", auth.login_view, name="login"),
    path("logout/", auth.logout_view, name="logout"),
    path("language/", auth.language_view, name="language"),
    path("2fa/", second_factor.verify_view, name="verify"),
    path("2fa/setup/", second_factor.setup_view, name="totp_setup"),
    path("2fa/recovery-codes/", second_factor.recovery_codes_view, name="recovery_codes"),
    # the user
    path("account/", dashboard.account, name="account"),
    path("organisation/switch/", dashboard.switch_organisation_view, name="switch_organisation"),
    # the active organisation
    path("organisation/", organisation.organisation_view, name="organisation"),
    path("organisation/edit/", organisation.organisation_edit, name="organisation_edit"),
    path("sites/", sites.site_list, name="sites"),
    path("sites/new/", sites.site_create, name="site_create"),
    path("sites/<int:site_id>/", sites.site_edit, name="site_edit"),
    path("members/", members.member_list, name="members"),
    path("members/add/", members.member_add, name="member_add"),
    path("members/<int:membership_id>/role/", members.member_role, name="member_role"),
    path("members/<int:membership_id>/remove/", members.member_remove, name="member_remove"),
    path("api-keys/", apikeys.apikey_list, name="apikeys"),
    path("api-keys/new/", apikeys.apikey_create, name="apikey_create"),
    path("api-keys/<int:apikey_id>/revoke/", apikeys.apikey_revoke, name="apikey_revoke"),
    path("audit/", audit.audit_list, name="audit"),
    path("audit/verify/", audit.audit_verify, name="audit_verify"),
    path("phone/", phone.phone_view, name="phone"),
    # the areas of the back-office, each in its own package of views
    *insights.routes, *people.routes, *content.routes, *sending.routes, *privacy.routes, *settings.routes,
]
