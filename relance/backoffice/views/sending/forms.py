"""Forms of the sending area. They only collect input; the reminders and campaigns services check
it and their ValidationError comes back on the fields (forms.show_service_errors)."""

from __future__ import annotations

from django import forms
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from relance.accounts.models import Site
from relance.consent.models import LANGUAGES, Purpose
from relance.contacts.models import Contact
from relance.messaging.models import Template
from relance.reminders.models import Event, EventKind

LOCAL = "%Y-%m-%dT%H:%M"


class LocalDateTimeInput(forms.DateTimeInput):
    """The browser's date-and-time picker; the value is read in the organisation's time zone."""

    input_type = "datetime-local"

    def __init__(self, attrs=None):
        super().__init__(attrs, format=LOCAL)


def moment(label, required=True, help_text=""):
    return forms.DateTimeField(label=label, required=required, help_text=help_text, widget=LocalDateTimeInput,
                               input_formats=[LOCAL, "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"])


def purpose_choices(org, *, blank=None) -> list:
    language = get_language() or "fr"
    rows = Purpose.objects.for_org(org).filter(status=Purpose.Status.ACTIVE).order_by("code")
    choices = [(p.pk, p.label(language)) for p in rows]
    return ([("", blank)] if blank else []) + choices


def site_choices(org, blank) -> list:
    return [("", blank)] + [(s.pk, s.name) for s in Site.objects.for_org(org).order_by("name")]


class EventFilterForm(forms.Form):
    """The filters of the events list (GET)."""

    when = forms.ChoiceField(label=_("When"), required=False, choices=[
        ("upcoming", _("Upcoming")), ("past", _("Past")), ("all", _("All dates"))])
    kind = forms.ChoiceField(label=_("Kind"), required=False)
    purpose = forms.ChoiceField(label=_("Purpose"), required=False)
    site = forms.ChoiceField(label=_("Site"), required=False)
    status = forms.ChoiceField(label=_("Status"), required=False)

    def __init__(self, org, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [("", _("Any kind")), *EventKind.choices]
        self.fields["purpose"].choices = purpose_choices(org, blank=_("Any purpose"))
        self.fields["site"].choices = site_choices(org, _("Any site"))
        self.fields["status"].choices = [("", _("Any status")), *Event.Status.choices]


class EventForm(forms.Form):
    """A new event. The person is found by phone, e-mail or reference (a keyed-hash lookup, audited),
    or comes from the contact's page (?contact=<id>)."""

    contact = forms.UUIDField(required=False, widget=forms.HiddenInput)
    find_by = forms.ChoiceField(label=_("Find the person by"), required=False, choices=[
        ("phone", _("Phone number")), ("email", _("E-mail address")), ("external_ref", _("Your reference"))])
    find_value = forms.CharField(label=_("Phone number, e-mail address or reference"), max_length=254,
                                 required=False, widget=forms.TextInput(attrs={"autocomplete": "off"}))
    kind = forms.ChoiceField(label=_("Kind of event"), choices=EventKind.choices)
    purpose = forms.ChoiceField(label=_("Purpose"),
                                help_text=_("The reminders follow the rule of this purpose for this kind of event."))
    starts_at = moment(_("Date and time"), help_text=_("The appointment, the due date or the start of the hold."))
    ends_at = moment(_("End of the hold"), required=False,
                     help_text=_("Only for a reserved item: no notice is sent after it."))
    site = forms.ChoiceField(label=_("Site"), required=False)
    external_id = forms.CharField(label=_("Your reference for this event"), max_length=200, required=False,
                                  help_text=_("Optional: the number in your agenda or library system. "
                                              "Left empty, Relance makes one."))
    place = forms.CharField(label=_("Place shown in the message"), max_length=300, required=False)
    callback = forms.CharField(label=_("Call-back number shown in the message"), max_length=300, required=False)

    def __init__(self, org, *args, contact_fixed=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["purpose"].choices = purpose_choices(org, blank=_("Choose a purpose"))
        self.fields["site"].choices = site_choices(org, _("No site"))
        if contact_fixed:
            del self.fields["find_by"], self.fields["find_value"]

    def params(self) -> dict:
        return {name: self.cleaned_data[name] for name in ("place", "callback") if self.cleaned_data.get(name)}


class RescheduleForm(forms.Form):
    starts_at = moment(_("New date and time"))
    ends_at = moment(_("End of the hold"), required=False,
                     help_text=_("Only for a reserved item: no notice is sent after it."))
    site = forms.ChoiceField(label=_("Site"), required=False)

    def __init__(self, org, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["site"].choices = site_choices(org, _("No site"))


UNITS = [("minutes", _("minutes")), ("hours", _("hours")), ("days", _("days"))]
FACTORS = {"minutes": 1, "hours": 60, "days": 1440}
DIRECTIONS = [("before", _("before the event")), ("after", _("after the event"))]
STEP_ROWS = 5


class RuleForm(forms.Form):
    """A reminder rule: up to five steps, each "N hours before, by SMS, with template X" (R-27)."""

    purpose = forms.ChoiceField(label=_("Purpose"))
    event_kind = forms.ChoiceField(label=_("Kind of event"), choices=EventKind.choices)
    name = forms.CharField(label=_("Name"), max_length=200,
                           help_text=_("For your colleagues, e.g. \"Appointments: SMS 2 hours before\"."))

    def __init__(self, org, *args, rule=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["purpose"].choices = purpose_choices(org, blank=_("Choose a purpose"))
        if rule is not None:  # the purpose and kind of a rule do not change: make a new rule instead
            del self.fields["purpose"], self.fields["event_kind"]
        codes = sorted(set(Template.objects.for_org(org).filter(status=Template.Status.ACTIVE)
                           .values_list("code", flat=True)))
        for row in range(1, STEP_ROWS + 1):
            self.fields[f"step{row}_amount"] = forms.IntegerField(
                label=_("Step %(n)d: how long") % {"n": row}, required=False, min_value=0, max_value=525600)
            self.fields[f"step{row}_unit"] = forms.ChoiceField(label=_("Step %(n)d: unit") % {"n": row},
                                                               choices=UNITS, required=False, initial="hours")
            self.fields[f"step{row}_direction"] = forms.ChoiceField(
                label=_("Step %(n)d: before or after") % {"n": row}, choices=DIRECTIONS, required=False)
            self.fields[f"step{row}_channel"] = forms.ChoiceField(
                label=_("Step %(n)d: channel") % {"n": row}, required=False,
                choices=[("sms", _("SMS")), ("email", _("E-mail"))])
            self.fields[f"step{row}_template"] = forms.ChoiceField(
                label=_("Step %(n)d: template") % {"n": row}, required=False,
                choices=[("", "—")] + [(code, code) for code in codes])

    @staticmethod
    def initial_steps(steps: list[dict]) -> dict:
        initial = {}
        for row, step in enumerate(steps[:STEP_ROWS], start=1):
            minutes = step["offset_minutes"]
            unit = "days" if minutes and minutes % 1440 == 0 else "hours" if minutes % 60 == 0 else "minutes"
            initial.update({f"step{row}_amount": abs(minutes) // FACTORS[unit], f"step{row}_unit": unit,
                            f"step{row}_direction": "before" if minutes < 0 else "after",
                            f"step{row}_channel": step["channel"], f"step{row}_template": step["template"]})
        return initial

    def step_rows(self) -> list[list]:
        """The bound fields of each step, for the template's table."""
        names = ("amount", "unit", "direction", "channel", "template")
        return [[self[f"step{row}_{name}"] for name in names] for row in range(1, STEP_ROWS + 1)]

    def steps(self) -> tuple[list[dict], list[int]]:
        """The filled rows as the service's steps, and each step's row number (for its errors)."""
        steps, rows = [], []
        for row in range(1, STEP_ROWS + 1):
            data = {name: self.cleaned_data.get(f"step{row}_{name}")
                    for name in ("amount", "unit", "direction", "channel", "template")}
            if data["amount"] in (None, "") and not data["template"]:
                continue
            factor = FACTORS.get(data["unit"] or "hours", 60)
            offset = (data["amount"] or 0) * factor * (-1 if data["direction"] != "after" else 1)
            steps.append({"offset_minutes": offset, "channel": data["channel"] or "sms",
                          "template": data["template"] or ""})
            rows.append(row)
        return steps, rows


class CampaignForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200,
                           help_text=_("For your colleagues, e.g. \"Closed on Monday 3 March\"."))
    purpose = forms.ChoiceField(label=_("Purpose"), help_text=_(
        "Promotional purposes reach only the people who said yes to them (R-03)."))
    template = forms.ChoiceField(label=_("Message template"), help_text=_(
        "Each person gets the template of the same code in their language when there is one."))
    site = forms.ChoiceField(label=_("Only the contacts of this site"), required=False)
    language = forms.ChoiceField(label=_("Only the contacts who speak"), required=False)
    source = forms.ChoiceField(label=_("Only the contacts added"), required=False)
    created_after = forms.DateField(label=_("Added on or after"), required=False,
                                    widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    starts_at = moment(_("Send from"), required=False, help_text=_("Empty: as soon as it is launched."))
    rate_per_minute = forms.IntegerField(label=_("Messages per minute"), initial=600, min_value=1, max_value=100_000,
                                         help_text=_("Spreads the sending so that replies and calls do not all "
                                                     "come at once."))

    def __init__(self, org, *args, **kwargs):
        super().__init__(*args, **kwargs)
        language = get_language() or "fr"
        self.fields["purpose"].choices = purpose_choices(org, blank=_("Choose a purpose"))
        groups: dict[str, list] = {}
        rows = (Template.objects.for_org(org).filter(status=Template.Status.ACTIVE, purpose__status="active")
                .select_related("purpose").order_by("purpose__code", "code", "channel", "language"))
        for t in rows:
            groups.setdefault(t.purpose.label(language), []).append(
                (t.pk, f"{t.code} — {t.get_channel_display()}, {t.get_language_display()}"))
        self.fields["template"].choices = [("", _("Choose a template")), *groups.items()]
        self.fields["site"].choices = site_choices(org, _("All sites"))
        self.fields["language"].choices = [("", _("Any language")), *LANGUAGES]
        self.fields["source"].choices = [("", _("In any way")), *Contact.Source.choices]

    def filters(self) -> dict:
        data = self.cleaned_data
        filters = {name: data[name] for name in ("language", "source") if data.get(name)}
        if data.get("created_after"):
            filters["created_after"] = data["created_after"].isoformat() + "T00:00:00"
        return filters
