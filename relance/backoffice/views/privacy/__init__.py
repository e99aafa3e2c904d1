"""Rights requests, access exports, retention and purge reports, the Art. 30 register, breaches.

`routes` is included by relance/backoffice/urls.py. A download's format is a fixed path segment
with a default argument (one pattern per format, one URL name): the object ids stay the only
parameters, as the tenant-isolation test expects."""

from django.urls import path

from . import breaches, exports, register, requests, retention

FORMATS = ("json", "html", "pdf")


def _downloads(route: str, view, name: str) -> list:
    return [path(f"{route}{fmt}/", view, {"fmt": fmt}, name=name) for fmt in FORMATS]


routes: list = [
    # rights requests
    path("requests/", requests.request_list, name="requests"),
    path("requests/new/", requests.request_create, name="request_create"),
    path("requests/<uuid:rightsrequest_id>/", requests.request_detail, name="request_detail"),
    path("requests/<uuid:rightsrequest_id>/start/", requests.request_start, name="request_start"),
    path("requests/<uuid:rightsrequest_id>/extend/", requests.request_extend, name="request_extend"),
    path("requests/<uuid:rightsrequest_id>/complete/", requests.request_complete, name="request_complete"),
    path("requests/<uuid:rightsrequest_id>/refuse/", requests.request_refuse, name="request_refuse"),
    path("requests/<uuid:rightsrequest_id>/contact/", requests.request_link, name="request_link"),
    # access exports
    path("exports/<uuid:export_id>/", exports.export_detail, name="export_detail"),
    *_downloads("exports/<uuid:export_id>/download/", exports.export_download, "export_download"),
    # retention (R-50 … R-52)
    path("retention/", retention.retention_view, name="retention"),
    path("retention/edit/", retention.retention_edit, name="retention_edit"),
    path("retention/preset/", retention.retention_preset, name="retention_preset"),
    path("purges/run/", retention.purge_run, name="purge_run"),
    path("purges/<uuid:purgereport_id>/", retention.purge_detail, name="purge_detail"),
    # the register and the compliance report
    path("register/", register.register_view, name="register"),
    *_downloads("register/download/", register.register_download, "register_download"),
    path("register/controller/", register.register_controller, name="register_controller"),
    path("register/processor/", register.register_processor, name="register_processor"),
    *_downloads("register/processor/download/", register.register_processor_download, "register_processor_download"),
    path("compliance/", register.compliance_view, name="compliance"),
    *_downloads("compliance/download/", register.compliance_download, "compliance_download"),
    # breaches
    path("breaches/", breaches.breach_list, name="breaches"),
    path("breaches/new/", breaches.breach_create, name="breach_create"),
    path("breaches/<uuid:breach_id>/", breaches.breach_detail, name="breach_detail"),
    path("breaches/<uuid:breach_id>/edit/", breaches.breach_edit, name="breach_edit"),
    path("breaches/<uuid:breach_id>/assess/", breaches.breach_assess, name="breach_assess"),
    path("breaches/<uuid:breach_id>/subjects/", breaches.breach_subjects, name="breach_subjects"),
    path("breaches/<uuid:breach_id>/notify/", breaches.breach_notify, name="breach_notify"),
    path("breaches/<uuid:breach_id>/close/", breaches.breach_close, name="breach_close"),
    path("breaches/<uuid:breach_id>/draft/", breaches.breach_draft, name="breach_draft"),
    path("breaches/<uuid:breach_id>/notice/", breaches.breach_notice, name="breach_notice"),
]
