"""Purposes and notices (activation checks explained) and message templates with the live SMS preview.

`routes` is included by relance/backoffice/urls.py."""

from django.urls import path

from . import purposes, templates

routes: list = [
    path("purposes/", purposes.purpose_list, name="purposes"),
    path("purposes/new/", purposes.purpose_create, name="purpose_create"),
    path("purposes/<int:purpose_id>/", purposes.purpose_detail, name="purpose_detail"),
    path("purposes/<int:purpose_id>/edit/", purposes.purpose_edit, name="purpose_edit"),
    path("purposes/<int:purpose_id>/activate/", purposes.purpose_activate, name="purpose_activate"),
    path("purposes/<int:purpose_id>/retire/", purposes.purpose_retire, name="purpose_retire"),
    path("purposes/<int:purpose_id>/notices/new/", purposes.notice_publish, name="notice_publish"),
    path("notices/<int:notice_id>/", purposes.notice_detail, name="notice_detail"),
    path("templates/", templates.template_list, name="templates"),
    path("templates/new/", templates.template_create, name="template_create"),
    path("templates/preview/", templates.template_preview, name="template_preview"),
    path("templates/<int:template_id>/", templates.template_detail, name="template_detail"),
    path("templates/<int:template_id>/", templates.template_detail, name="template_edit"),  # the same page
    path("templates/<int:template_id>/override/", templates.template_override, name="template_override"),
    path("templates/<int:template_id>/retire/", templates.template_retire, name="template_retire"),
]
