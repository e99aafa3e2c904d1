"""One import of a contacts file (R-15, R-31, R-04): what was asked, what happened, and the report.

The report names each bad row by its line number in the file (the header is line 1), the column
and a reason code with a message; it never holds a value of the file (R-61), so it can be shown,
logged and kept without being personal data.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _

from relance.accounts.tenancy import TenantModel


class ImportBatch(TenantModel):
    class Mode(models.TextChoices):
        ALL_OR_NOTHING = "all_or_nothing", _("All or nothing")
        GOOD_ROWS_ONLY = "good_rows_only", _("Good rows only")

    class Status(models.TextChoices):
        RUNNING = "running", _("Importing")
        VALIDATED = "validated", _("Validated (dry run)")
        IMPORTED = "imported", _("Imported")
        FAILED = "failed", _("Nothing imported")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    purpose = models.ForeignKey("consent.Purpose", null=True, blank=True, on_delete=models.RESTRICT, related_name="+")
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.ALL_OR_NOTHING)
    dry_run = models.BooleanField(default=False)
    source = models.CharField(max_length=300, blank=True)  # the stated source of the whole file
    collector = models.CharField(max_length=200, blank=True)  # who collected the data originally
    notice = models.ForeignKey("consent.Notice", null=True, blank=True, on_delete=models.RESTRICT, related_name="+")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.VALIDATED)
    file_sha256 = models.CharField(max_length=64, blank=True)
    file_size = models.PositiveIntegerField(default=0)
    encoding = models.CharField(max_length=16, blank=True)
    delimiter = models.CharField(max_length=4, blank=True)
    rows = models.PositiveIntegerField(default=0)
    valid = models.PositiveIntegerField(default=0)
    invalid = models.PositiveIntegerField(default=0)
    quarantined = models.PositiveIntegerField(default=0)
    suppressed = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    report = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey("accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    api_key = models.ForeignKey("accounts.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta(TenantModel.Meta):
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["organisation", "created_at"], name="import_batch_created_idx")]

    def __str__(self):
        return f"import {self.pk}"

    @property
    def imported(self) -> int:
        return self.created + self.updated
