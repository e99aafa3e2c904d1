"""Forms of the content area. They only collect input: consent.services and messaging.templates
check and write (their ValidationError dicts go back on the fields with show_service_errors)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from relance.consent.models import CHANNELS, DATA_CATEGORIES, LANGUAGES, LEGAL_BASES, MESSAGE_CLASSES, Purpose

BLANK = [("", _("— not chosen yet —"))]
TEXT_FIELDS = ("label_fr", "label_en", "message_class", "legal_basis", "art9_condition", "retention",
               "balancing_test_ref", "existing_customer_scope", "dpia_ref", "dpia_not_needed_reason")


class PurposeForm(forms.Form):
    """Every field of consent.services.create_purpose/update_purpose; all optional here: a purpose
    may stay an incomplete draft, activation lists what is missing (R-01)."""

    code = forms.SlugField(label=_("Code"), max_length=64,
                           help_text=_("Short identifier used by integrations, e.g. overdue-reminders. "
                                       "It cannot be changed later."))
    label_fr = forms.CharField(label=_("Name in French"), max_length=200, required=False)
    label_en = forms.CharField(label=_("Name in English"), max_length=200, required=False)
    message_class = forms.ChoiceField(label=_("Kind of messages"), choices=BLANK + MESSAGE_CLASSES, required=False,
                                      help_text=_("Promotional messages need prior consent and an opt-out mention."))
    channels = forms.MultipleChoiceField(label=_("Channels"), choices=CHANNELS, required=False,
                                         widget=forms.CheckboxSelectMultiple)
    legal_basis = forms.ChoiceField(label=_("Legal basis (Art. 6 GDPR)"), choices=BLANK + LEGAL_BASES, required=False)
    consent_validity_days = forms.IntegerField(
        label=_("Consent valid for (days)"), min_value=1, max_value=36500, required=False,
        help_text=_("For a purpose based on consent: after this many days, consent must be asked again."))
    refresh_per_event = forms.BooleanField(
        label=_("Ask for consent again at each appointment"), required=False)
    balancing_test_ref = forms.CharField(
        label=_("Reference of the balancing test"), max_length=300, required=False,
        help_text=_("Needed for legitimate interests: where your written balancing test can be found."))
    existing_customer_exception = forms.BooleanField(
        label=_("Existing customers, similar products (no consent needed)"), required=False)
    existing_customer_scope = forms.CharField(
        label=_("Which sale and which similar products"), max_length=300, required=False)
    art9_condition = forms.ChoiceField(
        label=_("Health data: condition of Art. 9(2) GDPR"), choices=BLANK + list(Purpose.Art9.choices),
        required=False,
        help_text=_("Required if your organisation processes health data; choose “no special-category data” "
                    "when this purpose has none."))
    dpia_ref = forms.CharField(label=_("Reference of the impact assessment (DPIA)"), max_length=300, required=False)
    dpia_not_needed_reason = forms.CharField(
        label=_("Or: why no impact assessment is needed"), required=False, widget=forms.Textarea(attrs={"rows": 3}))
    data_categories = forms.MultipleChoiceField(
        label=_("Data used"), required=False, widget=forms.CheckboxSelectMultiple,
        choices=[(code, label) for code, (label, _kantara, _dpv) in DATA_CATEGORIES.items()])
    recipients = forms.CharField(
        label=_("Who receives the data"), required=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("One per line, e.g. “Reception staff” or “Relance (processor)”."))
    retention = forms.CharField(label=_("How long the data is kept, in words"), max_length=300, required=False,
                                help_text=_("As people will read it, e.g. “4 months after the item is returned”."))
    retention_days = forms.IntegerField(label=_("Kept for (days)"), min_value=1, max_value=36500, required=False)

    GROUPS = (
        (_("What the purpose is"), ("code", "label_fr", "label_en", "message_class", "channels")),
        (_("Legal basis"), ("legal_basis", "consent_validity_days", "refresh_per_event", "balancing_test_ref",
                            "existing_customer_exception", "existing_customer_scope")),
        (_("Health data"), ("art9_condition", "dpia_ref", "dpia_not_needed_reason")),
        (_("Data, recipients and retention"), ("data_categories", "recipients", "retention", "retention_days")),
    )

    def __init__(self, *args, purpose: Purpose | None = None, **kwargs):
        if purpose is not None:
            kwargs.setdefault("initial", initial_of(purpose))
        super().__init__(*args, **kwargs)
        if purpose is not None:
            del self.fields["code"]

    def groups(self):
        return [(legend, [self[name] for name in names if name in self.fields]) for legend, names in self.GROUPS]

    def clean_recipients(self):
        return [line.strip() for line in self.cleaned_data["recipients"].splitlines() if line.strip()]

    def values(self, *, only_changed: bool) -> dict:
        """The service's keyword arguments: everything given (creation) or what changed (edit)."""
        names = self.changed_data if only_changed else [n for n in self.fields if n != "code"]
        values = {name: self.cleaned_data[name] for name in names if name != "code"}
        if not only_changed:
            values = {name: value for name, value in values.items() if value not in ("", None, [], False)}
        for name in TEXT_FIELDS:
            if name in values and values[name] is None:
                values[name] = ""
        return values


def initial_of(purpose: Purpose) -> dict:
    initial = {name: getattr(purpose, name) for name in PurposeForm.base_fields if name != "code"}
    initial["recipients"] = "\n".join(purpose.recipients or [])
    return initial


class NoticeForm(forms.Form):
    language = forms.ChoiceField(label=_("Language"), choices=LANGUAGES)
    text = forms.CharField(
        label=_("Text of the notice"), max_length=50000, widget=forms.Textarea(attrs={"rows": 16}), strip=False,
        help_text=_("Who you are, why you send these messages, on which legal basis, what data, who receives it, "
                    "how long it is kept, the person's rights, how to say no (STOP), how to reach your DPO and how "
                    "to complain to the CNIL."))


class TemplateForm(forms.Form):
    """Create a template (all fields) or change one (body, subject, transliteration only)."""

    purpose = forms.ModelChoiceField(label=_("Purpose"), queryset=Purpose.objects.none(),
                                     empty_label=_("— choose a purpose —"))
    code = forms.CharField(label=_("Code"), max_length=64,
                           help_text=_("Short name used by reminder rules, e.g. reminder-48h."))
    channel = forms.ChoiceField(label=_("Channel"), choices=CHANNELS)
    language = forms.ChoiceField(label=_("Language"), choices=LANGUAGES)
    subject = forms.CharField(label=_("Subject (e-mail only)"), max_length=200, required=False)
    body = forms.CharField(
        label=_("Text"), max_length=20000, strip=False, widget=forms.Textarea(attrs={"rows": 7, "spellcheck": "true"}),
        help_text=_("Use placeholders such as {first_name}, {date}, {time}, {place}: they are replaced for each "
                    "person."))
    transliterate = forms.BooleanField(
        label=_("Replace the characters that make an SMS more expensive (’ « » ê …)"), required=False,
        help_text=_("Only if your organisation allows it in the sending settings."))

    EDITABLE = ("subject", "body", "transliterate")

    def __init__(self, *args, organisation, template=None, **kwargs):
        if template is not None:
            kwargs.setdefault("initial", {name: getattr(template, name) for name in self.EDITABLE})
        super().__init__(*args, **kwargs)
        self.template = template
        if template is not None:
            for name in ("purpose", "code", "channel", "language"):
                del self.fields[name]
        else:
            purposes = Purpose.objects.for_org(organisation).exclude(status=Purpose.Status.RETIRED).order_by("code")
            self.fields["purpose"].queryset = purposes
            self.fields["purpose"].label_from_instance = lambda p: f"{p.label(_language())} ({p.code})"

    def changes(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.EDITABLE if name in self.changed_data}


def _language() -> str:
    from django.utils.translation import get_language

    return (get_language() or "fr")[:2]


class OverrideForm(forms.Form):
    """R-24: the DPO lets flagged words through for one template, with a justification."""

    words = forms.CharField(label=_("Words to let through"), max_length=500,
                            help_text=_("The words the checker flags, separated by commas."))
    reason = forms.CharField(label=_("Justification"), widget=forms.Textarea(attrs={"rows": 3}),
                             help_text=_("Why this word is needed in the message; kept as the DPO's record."))
    body = forms.CharField(required=False, strip=False, widget=forms.HiddenInput)

    def word_list(self) -> list[str]:
        return [word.strip() for word in self.cleaned_data["words"].split(",") if word.strip()]
