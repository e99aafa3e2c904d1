"""Forms of the privacy pages. They only collect input: the services in relance.privacy validate and
write (their ValidationError goes back on the fields with `show_service_errors`)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from relance.consent.models import DATA_CATEGORIES
from relance.privacy import breaches, retention
from relance.privacy.models import Breach, DataCategory, RightsRequest

DATETIME = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]


def moment(label, required=True, help_text=""):
    return forms.DateTimeField(label=label, required=required, widget=DATETIME, input_formats=DATETIME_FORMATS,
                               help_text=help_text)


# --- rights requests -----------------------------------------------------------------------------
# A request's status in the words of the queue (the model's "Received" is also a date column's header,
# translated "Reçue le" in the privacy catalogue).
STATUS_LABELS = {
    RightsRequest.Status.RECEIVED: pgettext_lazy("request status", "Received"),
    RightsRequest.Status.IN_PROGRESS: pgettext_lazy("request status", "In progress"),
    RightsRequest.Status.EXTENDED: pgettext_lazy("request status", "Extended (person told)"),
    RightsRequest.Status.COMPLETED: pgettext_lazy("request status", "Completed"),
    RightsRequest.Status.REFUSED: pgettext_lazy("request status", "Refused"),
}


class RequestFilterForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind"), required=False, choices=[("", _("All kinds")), *RightsRequest.Kind.choices])
    status = forms.ChoiceField(label=_("Status"), required=False, choices=[
        ("", _("Open requests")), *STATUS_LABELS.items(), ("all", _("All requests"))])
    late = forms.BooleanField(label=_("Late only"), required=False)


class RequestCreateForm(forms.Form):
    kind = forms.ChoiceField(label=_("What the person asks"), choices=RightsRequest.Kind.choices)
    contact = forms.UUIDField(required=False, widget=forms.HiddenInput)
    phone = forms.CharField(label=_("Phone number of the person"), required=False, max_length=32,
                            help_text=_("To find the person among your contacts. Or give the e-mail address, "
                                        "or your reference for the person. Leave all three empty if you do not "
                                        "know yet whom it is about: you can link the person later."))
    email = forms.CharField(label=_("E-mail address of the person"), required=False, max_length=254)
    external_ref = forms.CharField(label=_("Your reference for the person"), required=False, max_length=100)
    requested_by = forms.ChoiceField(label=_("Who asks"), choices=RightsRequest.RequestedBy.choices)
    received_at = moment(_("Received on"), required=False,
                         help_text=_("When the request reached you: the one-month deadline counts from it. "
                                     "Now if empty."))
    language = forms.ChoiceField(label=_("Language of the answer"), required=False,
                                 choices=[("", _("The person's language")), ("fr", "Français"), ("en", "English")])
    details = forms.CharField(label=_("The request in the person's words"), required=False, max_length=5000,
                              widget=forms.Textarea(attrs={"rows": 4}),
                              help_text=_("Kept encrypted with the person's data; erased with it."))

    def lookup(self) -> dict:
        return {name: self.cleaned_data[name] for name in ("phone", "email", "external_ref")
                if self.cleaned_data.get(name)}


class LinkContactForm(forms.Form):
    phone = forms.CharField(label=_("Phone number"), required=False, max_length=32)
    email = forms.CharField(label=_("E-mail address"), required=False, max_length=254)
    external_ref = forms.CharField(label=_("Your reference for the person"), required=False, max_length=100)

    def lookup(self) -> dict:
        return {name: self.cleaned_data[name] for name in ("phone", "email", "external_ref")
                if self.cleaned_data.get(name)}


class ExtendForm(forms.Form):
    reason = forms.CharField(label=_("Reasons given to the person"), max_length=2000,
                             widget=forms.Textarea(attrs={"rows": 3}),
                             help_text=_("For example: the request is complex, or many requests arrived at once."))
    told_via = forms.CharField(label=_("How the person was told"), max_length=32,
                               help_text=_("sms, email, letter… Not the address or the number itself."))
    told_at = moment(_("Told on"), required=False, help_text=_("Now if empty."))


class CompleteForm(forms.Form):
    """Kind-specific fields are added by `for_kind()`; access, portability, erasure and restriction need none."""

    confirm = forms.BooleanField(label=_("I have checked the person's identity and want to do what the request asks."))


class RectifyForm(CompleteForm):
    first_name = forms.CharField(label=_("First name"), required=False, max_length=100)
    last_name = forms.CharField(label=_("Last name"), required=False, max_length=100)
    phone = forms.CharField(label=_("Phone number"), required=False, max_length=32)
    email = forms.CharField(label=_("E-mail address"), required=False, max_length=254)
    birth_date = forms.DateField(label=_("Birth date"), required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def changes(self) -> dict:
        return {name: value for name, value in self.cleaned_data.items() if name != "confirm" and value not in ("", None)}


class ObjectForm(CompleteForm):
    channels = forms.MultipleChoiceField(label=_("Channels"), required=False, widget=forms.CheckboxSelectMultiple,
                                         choices=[("sms", _("SMS")), ("email", _("E-mail"))],
                                         help_text=_("Every channel if none is ticked."))


COMPLETE_FORMS = {RightsRequest.Kind.RECTIFICATION: RectifyForm, RightsRequest.Kind.OBJECTION: ObjectForm}


class RefuseForm(forms.Form):
    code = forms.ChoiceField(label=_("Why the request is refused"), choices=RightsRequest.Refusal.choices)
    reason = forms.CharField(label=_("Explanation given to the person"), required=False, max_length=2000,
                             widget=forms.Textarea(attrs={"rows": 3}),
                             help_text=_("Required with “Other reason”. The person can complain to the CNIL."))


# --- retention -----------------------------------------------------------------------------------
class PolicyForm(forms.Form):
    category = forms.ChoiceField(label=_("Data"), choices=DataCategory.choices, widget=forms.HiddenInput)
    days = forms.IntegerField(label=_("Kept for (days)"), min_value=1, max_value=retention.MAX_DAYS)
    source = forms.CharField(label=_("Where this duration comes from"), required=False, max_length=300,
                             help_text=_("A law, a recommendation of the CNIL, a decision of your organisation…"))


class PresetForm(forms.Form):
    preset = forms.ChoiceField(label=_("Preset"), choices=lambda: [(p.code, p.label) for p in retention.PRESETS.values()],
                               widget=forms.HiddenInput)


class PurgeForm(forms.Form):
    dry_run = forms.BooleanField(required=False, widget=forms.HiddenInput)


# --- breaches ------------------------------------------------------------------------------------
def _category_choices():
    return [(code, label) for code, (label, *_rest) in DATA_CATEGORIES.items()]


class BreachForm(forms.Form):
    title = forms.CharField(label=_("Short title"), max_length=200)
    nature = forms.CharField(label=_("What happened"), widget=forms.Textarea(attrs={"rows": 4}), max_length=10000,
                             help_text=_("Art. 33(3)(a): the nature of the breach."))
    kinds = forms.MultipleChoiceField(label=_("Kind of breach"), widget=forms.CheckboxSelectMultiple,
                                      choices=[])
    aware_at = moment(_("When you became aware of it"),
                      help_text=_("The clock for notifying the CNIL starts here."))
    occurred_from = moment(_("Started on"), required=False)
    occurred_to = moment(_("Ended on"), required=False)
    data_categories = forms.MultipleChoiceField(label=_("Data concerned"), required=False,
                                                widget=forms.CheckboxSelectMultiple, choices=_category_choices)
    approx_subjects = forms.IntegerField(label=_("Approximate number of people concerned"), required=False, min_value=0)
    approx_records = forms.IntegerField(label=_("Approximate number of records concerned"), required=False, min_value=0)
    consequences = forms.CharField(label=_("Likely consequences for the people"), required=False, max_length=10000,
                                   widget=forms.Textarea(attrs={"rows": 3}), help_text=_("Art. 33(3)(c)."))
    measures_taken = forms.CharField(label=_("Measures taken"), required=False, max_length=10000,
                                     widget=forms.Textarea(attrs={"rows": 3}), help_text=_("Art. 33(3)(d)."))
    measures_proposed = forms.CharField(label=_("Measures proposed"), required=False, max_length=10000,
                                        widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from relance.privacy.breach_notice import KIND_LABELS

        self.fields["kinds"].choices = [(kind, KIND_LABELS[kind]) for kind in breaches.KINDS]

    @classmethod
    def initial_for(cls, breach: Breach) -> dict:
        return {name: getattr(breach, name) for name in cls.base_fields}

    def values(self) -> dict:
        return dict(self.cleaned_data)


class AssessForm(forms.Form):
    risk = forms.ChoiceField(label=_("Risk for the people"), choices=Breach.Risk.choices, widget=forms.RadioSelect)
    reason = forms.CharField(label=_("Why you assess it so"), widget=forms.Textarea(attrs={"rows": 3}),
                             max_length=5000)


class NotifiedForm(forms.Form):
    notified_at = moment(_("Notified to the CNIL on"))
    authority_reference = forms.CharField(label=_("Reference given by the CNIL"), max_length=64)
    delay_reason = forms.CharField(label=_("Reasons for the delay"), required=False, max_length=5000,
                                   widget=forms.Textarea(attrs={"rows": 3}),
                                   help_text=_("Required when the notification comes after the deadline (Art. 33(1))."))


class CloseForm(forms.Form):
    reason = forms.CharField(label=_("Note (optional)"), required=False, max_length=2000,
                             widget=forms.Textarea(attrs={"rows": 2}),
                             help_text=_("For a high risk where the people were not told: the Art. 34(3) reason."))


class NoticeForm(forms.Form):
    template = forms.ChoiceField(label=_("Message sent to each person"))
    dpo_decision = forms.CharField(label=_("Why the DPO decides to tell the people"), required=False, max_length=2000,
                                   widget=forms.Textarea(attrs={"rows": 2}),
                                   help_text=_("Only needed when the risk is not assessed high."))

    def __init__(self, *args, templates=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["template"].choices = [(str(t.pk), f"{t.purpose.code} — {t.code} ({t.channel}, {t.language})")
                                           for t in templates]
