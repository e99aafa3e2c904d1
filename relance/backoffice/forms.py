"""Back-office forms. They only collect input: every write is done by a service, whose
ValidationError dict is put back on the fields with `show_service_errors()`."""

from __future__ import annotations

import zoneinfo
from functools import cache

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from relance.accounts.models import Organisation, Role
from relance.accounts.permissions import API_SCOPES

# The scope descriptions of accounts/permissions.py, marked for translation here (same English text).


def scope_label(scope: str) -> str:
    return API_SCOPES.get(scope, scope)


def show_service_errors(form: forms.Form, error: ValidationError) -> None:
    """Put a service's ValidationError on the form: dict keys on their fields, the rest on top."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error.messages)
        return
    for field, messages in error.message_dict.items():
        form.add_error(field if field in form.fields else None, messages)


class LoginForm(forms.Form):
    email = forms.EmailField(label=_("E-mail address"), max_length=254,
                             widget=forms.EmailInput(attrs={"autocomplete": "username", "autofocus": True}))
    password = forms.CharField(label=_("Password"), strip=False,
                               widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))


class CodeForm(forms.Form):
    code = forms.CharField(
        label=_("Code"), max_length=32,
        help_text=_("The 6-digit code from your authenticator app, or one of your recovery codes."),
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autofocus": True, "spellcheck": "false"}),
    )


class EnrolForm(forms.Form):
    code = forms.CharField(
        label=_("Code shown by the app"), max_length=8,
        help_text=_("Six digits. They change every 30 seconds."),
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}),
    )


class RecoveryAckForm(forms.Form):
    saved = forms.BooleanField(label=_("I have saved these recovery codes somewhere safe."),
                               error_messages={"required": _("Tick the box once you have saved the codes.")})


@cache
def _time_zones() -> list[tuple[str, str]]:
    return [(zone, zone) for zone in sorted(zoneinfo.available_timezones())]


class OrganisationForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    kind = forms.ChoiceField(label=_("Kind"), choices=Organisation.Kind.choices)
    country = forms.CharField(label=_("Country"), min_length=2, max_length=2,
                              help_text=_("Two-letter code, e.g. FR or BE."))
    time_zone = forms.ChoiceField(label=_("Time zone"), choices=_time_zones)
    languages = forms.MultipleChoiceField(label=_("Languages of messages"), choices=settings.LANGUAGES,
                                          widget=forms.CheckboxSelectMultiple)
    processes_health_data = forms.BooleanField(label=_("Processes health data"), required=False)
    electronic_communications_provider = forms.BooleanField(
        label=_("Electronic communications provider"), required=False)
    paused = forms.BooleanField(label=_("Sending paused"), required=False,
                                help_text=_("No message leaves while this is ticked."))
    dpo_name = forms.CharField(label=_("DPO name"), max_length=200, required=False)
    dpo_email = forms.EmailField(label=_("DPO e-mail address"), required=False)
    dpo_phone = forms.CharField(label=_("DPO phone number"), max_length=32, required=False)

    FIELDS = ("name", "kind", "country", "time_zone", "languages", "processes_health_data",
              "electronic_communications_provider", "paused", "dpo_name", "dpo_email", "dpo_phone")

    @classmethod
    def initial_for(cls, org: Organisation) -> dict:
        values = {field: getattr(org, field) for field in cls.FIELDS}
        return {field: "" if value is None else value for field, value in values.items()}

    def clean_country(self):
        return self.cleaned_data["country"].upper()

    def changes(self) -> dict:
        return {field: self.cleaned_data[field] for field in self.changed_data}


class SiteForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    code = forms.SlugField(label=_("Code"), max_length=64,
                           help_text=_("Short identifier used by integrations: letters, digits and hyphens."))
    address = forms.CharField(label=_("Address"), max_length=300, required=False)


class SiteEditForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    address = forms.CharField(label=_("Address"), max_length=300, required=False)


class MemberAddForm(forms.Form):
    email = forms.EmailField(label=_("E-mail address of an existing user"), max_length=254)
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)


class RoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)


class ApiKeyForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100,
                           help_text=_("What will use the key, e.g. the name of your agenda software."))
    scopes = forms.MultipleChoiceField(label=_("Scopes"), widget=forms.CheckboxSelectMultiple,
                                       choices=lambda: [(scope, f"{scope} — {scope_label(scope)}") for scope in API_SCOPES])


class LanguageForm(forms.Form):
    language = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES)
