from django.urls import path, re_path

from . import consent_form, preferences, rights_page, views

app_name = "public"

urlpatterns = [
    path("", views.index, name="index"),
    path("notices/<uuid:notice_uid>/", views.notice, name="notice"),
    # Any token shape reaches the view: a mangled link gets the plain "link not valid" page, not a 404.
    re_path(r"^s/(?P<token>[^/]{1,100})/$", preferences.preferences, name="preferences"),
    re_path(r"^s/(?P<token>[^/]{1,100})/stop/$", preferences.stop, name="stop"),
    path("<slug:org_slug>/info/", views.info, name="info"),
    path("<slug:org_slug>/rights/", rights_page.rights, name="rights"),
    path("<slug:org_slug>/consent/<slug:purpose_code>/", consent_form.consent_form, name="consent"),
]
