"""The forms of the contacts area. They only collect input; the services check and write."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from relance.accounts.models import Site
from relance.consent.models import CHANNELS, ConsentEvent, Notice, Purpose
from relance.privacy.models import RightsRequest

SEARCH_KINDS = [
    ("auto", _("Anything")),
    ("last_name", _("Last name")),
    ("phone", _("Phone number")),
    ("email", _("E-mail address")),
    ("external_ref", _("Reference in your software")),
]
MINOR_CHOICES = [("", _("Not said")), ("yes", _("Yes, under 18")), ("no", _("No, an adult"))]
# What staff may record on someone's behalf; "sms_keyword", "api", "import" and "system" come from
# the machines themselves.
STAFF_METHODS = [
    (ConsentEvent.Method.PAPER_FORM.value, ConsentEvent.Method.PAPER_FORM.label),
    (ConsentEvent.Method.PHONE_CALL.value, ConsentEvent.Method.PHONE_CALL.label),
    (ConsentEvent.Method.WEB_FORM.value, ConsentEvent.Method.WEB_FORM.label),
]
ACTIONS = [(value, label) for value, label in ConsentEvent.Action.choices if value != ConsentEvent.Action.EXPIRED]
# The evidence each method asks for: (evidence key, why it is needed).
EVIDENCE_FOR = {"paper_form": "form_ref", "phone_call": "note", "web_form": "form_url"}


class SearchForm(forms.Form):
    q = forms.CharField(label=_("Search"), max_length=254,
                        help_text=_("A last name, a phone number, an e-mail address or the reference used by your "
                                    "software. Names are found exactly, without accents or case."))
    by = forms.ChoiceField(label=_("Search in"), choices=SEARCH_KINDS, initial="auto", required=False)


class ContactForm(forms.Form):
    first_name = forms.CharField(label=_("First name"), max_length=200, required=False)
    last_name = forms.CharField(label=_("Last name"), max_length=200, required=False)
    phone = forms.CharField(label=_("Mobile phone number"), max_length=64, required=False,
                            help_text=_("Any usual format, e.g. 06 12 34 56 78. It must be able to receive SMS."),
                            widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "off"}))
    email = forms.CharField(label=_("E-mail address"), max_length=254, required=False,
                            widget=forms.EmailInput(attrs={"autocomplete": "off"}))
    birth_date = forms.DateField(label=_("Birth date"), required=False,
                                 widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    minor = forms.ChoiceField(label=_("Under 18?"), choices=MINOR_CHOICES, required=False,
                              help_text=_("Only when the birth date is unknown."))
    external_ref = forms.CharField(label=_("Reference in your software"), max_length=200, required=False,
                                   help_text=_("The number your agenda or library software gives this person."))
    language = forms.ChoiceField(label=_("Language of messages"), choices=settings.LANGUAGES)
    site = forms.TypedChoiceField(label=_("Site"), required=False, coerce=int, empty_value=None)

    FIELDS = ("first_name", "last_name", "phone", "email", "birth_date", "minor", "external_ref", "language", "site")

    def __init__(self, *args, organisation, **kwargs):
        super().__init__(*args, **kwargs)
        languages = organisation.languages or [organisation.default_language]
        self.fields["language"].choices = [(code, name) for code, name in settings.LANGUAGES if code in languages]
        sites = list(Site.objects.for_org(organisation).order_by("name"))
        if sites:
            self.fields["site"].choices = [("", _("No particular site"))] + [(s.pk, s.name) for s in sites]
        else:
            del self.fields["site"]

    def values(self) -> dict:
        """The service's arguments: every field, empty ones as None."""
        data = {name: self.cleaned_data.get(name) for name in self.FIELDS if name in self.fields}
        for name in ("first_name", "last_name", "phone", "email", "external_ref"):
            data[name] = data[name] or None
        data["minor"] = {"yes": True, "no": False}.get(data["minor"])
        data["birth_date"] = data["birth_date"].isoformat() if data["birth_date"] else None
        return data

    @classmethod
    def initial_from(cls, personal: dict, contact) -> dict:
        initial = {name: personal.get(name) or "" for name in ("first_name", "last_name", "phone", "email",
                                                               "birth_date", "external_ref")}
        minor = personal.get("minor")
        initial["minor"] = "" if minor is None else "yes" if minor else "no"
        initial["language"], initial["site"] = contact.language, contact.site_id or ""
        return initial


class DuplicatesForm(ContactForm):
    """The creation form, once duplicates were shown: the person confirms it is someone else."""

    confirm_new = forms.BooleanField(label=_("This is another person: create the contact anyway"), required=False)


class ConsentForm(forms.Form):
    purpose = forms.TypedChoiceField(label=_("Purpose"), coerce=int)
    channel = forms.ChoiceField(label=_("Channel"), choices=CHANNELS, widget=forms.RadioSelect)
    # No initial value: a decision is a positive act, never pre-ticked.
    action = forms.ChoiceField(label=_("Decision"), choices=ACTIONS, widget=forms.RadioSelect)
    expressed_by = forms.ChoiceField(label=_("Who expressed it"), choices=ConsentEvent.ExpressedBy.choices,
                                     widget=forms.RadioSelect,
                                     help_text=_("The guardian is the one linked to this contact."))
    method = forms.ChoiceField(label=_("How"), choices=STAFF_METHODS, widget=forms.RadioSelect)
    notice = forms.TypedChoiceField(label=_("Notice the person was shown"), coerce=int, required=False,
                                    empty_value=None,
                                    help_text=_("Needed when consent is given or renewed: the exact version the "
                                                "person read (R-11)."))
    form_ref = forms.CharField(label=_("Reference of the signed paper form"), max_length=200, required=False,
                               help_text=_("For a paper form: where the signed form is filed, e.g. its number."))
    note = forms.CharField(label=_("Note about the call"), max_length=500, required=False,
                           widget=forms.Textarea(attrs={"rows": 3}),
                           help_text=_("For a phone call: when the person called and what they said."))
    form_url = forms.URLField(label=_("Address of the web form"), max_length=500, required=False, assume_scheme="https",
                              help_text=_("For a web form: the page where the person ticked the box."))
    event_ref = forms.CharField(label=_("Appointment it is for"), max_length=200, required=False,
                                help_text=_("Only for purposes that ask again at each appointment."))

    def __init__(self, *args, organisation, language: str, **kwargs):
        super().__init__(*args, **kwargs)
        purposes = list(Purpose.objects.for_org(organisation).filter(status=Purpose.Status.ACTIVE).order_by("code"))
        self.fields["purpose"].choices = [("", "—")] + [(p.pk, p.label(language)) for p in purposes]
        notices = (Notice.objects.for_org(organisation).filter(purpose__in=purposes).select_related("purpose")
                   .order_by("purpose__code", "language", "-version"))
        self.fields["notice"].choices = [("", _("None"))] + [
            (n.pk, _("%(purpose)s — %(language)s, version %(version)d") % {
                "purpose": n.purpose.label(language), "language": n.language.upper(), "version": n.version})
            for n in notices]
        self.notices = {n.pk: n for n in notices}
        self.purposes = {p.pk: p for p in purposes}

    def clean(self):
        data = super().clean()
        key = EVIDENCE_FOR.get(data.get("method"))
        if key and not data.get(key):
            self.add_error(key, _("Give this evidence: it shows how the decision was collected."))
        return data

    def evidence(self) -> dict:
        key = EVIDENCE_FOR[self.cleaned_data["method"]]
        return {key: self.cleaned_data[key]}


class RequestForm(forms.Form):
    kind = forms.ChoiceField(label=_("What the person asks for"), choices=RightsRequest.Kind.choices,
                             widget=forms.RadioSelect)
    requested_by = forms.ChoiceField(label=_("Who asks"), choices=RightsRequest.RequestedBy.choices,
                                     initial=RightsRequest.RequestedBy.SUBJECT)
    received_on = forms.DateField(label=_("Received on"), required=False,
                                  widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
                                  help_text=_("Today if empty. The one-month deadline counts from this day (R-41)."))
    details = forms.CharField(label=_("The person's words"), required=False, max_length=2000,
                              widget=forms.Textarea(attrs={"rows": 4}),
                              help_text=_("What they asked, as they said it. Kept encrypted."))


class DeceasedForm(forms.Form):
    erase_now = forms.BooleanField(
        label=_("The person left a directive to erase their data: erase it now"), required=False,
        help_text=_("Otherwise the organisation's retention policy erases it later."))


class EraseForm(forms.Form):
    understood = forms.BooleanField(
        label=_("I understand that the contact's data is destroyed for good and cannot be recovered."),
        error_messages={"required": _("Tick the box to confirm.")})
