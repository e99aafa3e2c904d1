"""The people area: contacts, the contact page and what staff do for a contact."""

from django.urls import path

from . import actions, pages

routes = [
    path("contacts/", pages.contact_list, name="contacts"),
    path("contacts/new/", pages.contact_create, name="contact_create"),
    path("contacts/<uuid:contact_id>/", pages.contact_detail, name="contact_detail"),
    path("contacts/<uuid:contact_id>/edit/", pages.contact_edit, name="contact_edit"),
    path("contacts/evidence/<uuid:consentevent_id>/", pages.contact_evidence, name="contact_evidence"),
    path("contacts/<uuid:contact_id>/consent/", actions.contact_consent, name="contact_consent"),
    path("contacts/<uuid:contact_id>/restrict/", actions.contact_restrict, name="contact_restrict"),
    path("contacts/<uuid:contact_id>/deceased/", actions.contact_deceased, name="contact_deceased"),
    path("contacts/<uuid:contact_id>/request/", actions.contact_request, name="contact_request"),
    path("contacts/<uuid:contact_id>/erase/", actions.contact_erase, name="contact_erase"),
]
