"""Forms of the settings area. They only collect input: the services (providers, webhooks, messaging,
imports) validate and write, and their ValidationError is put back on the fields."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from relance.imports.models import ImportBatch
from relance.messaging import keywords as reply_keywords
from relance.messaging import windows
from relance.providers.kinds import VENDOR_KINDS, adapter
from relance.webhooks.services import KNOWN_EVENTS

# --- providers ----------------------------------------------------------------------------------
KIND_LABELS = {
    "smpp": _("SMPP 3.4 (direct connection to an operator)"),
    "twilio": _("Twilio"),
    "vonage": _("Vonage"),
    "ovh": _("OVHcloud SMS"),
    "brevo": _("Brevo"),
    "django": _("E-mail over SMTP (the server of the settings)"),
    "console": _("Console (demo: prints the messages instead of sending them)"),
    "locmem": _("In memory (tests)"),
    "null": _("Nothing (benchmarks)"),
}
KIND_HELP = {
    "smpp": _("A direct connection to an SMS operator or aggregator. Ask them for the host, port, system id and "
              "password."),
    "twilio": _("Find the Account SID and the Auth token on the home page of your Twilio console."),
    "vonage": _("Find the API key and the API secret on the home page of your Vonage dashboard."),
    "ovh": _("Create an application on the OVHcloud API to get its keys; the service name looks like sms-ab12345-1."),
    "brevo": _("Create an API key in your Brevo account (SMTP & API)."),
    "django": _("E-mails leave through the SMTP server set by the administrator of this installation."),
    "console": _("For trying Relance: nothing leaves, each message is printed in the server's log."),
}
CREDENTIAL_LABELS = {
    "host": _("Host"), "port": _("Port"), "system_id": _("System id (login)"), "password": _("Password"),
    "system_type": _("System type"), "account_sid": _("Account SID"), "auth_token": _("Auth token"),
    "messaging_service_sid": _("Messaging service SID"), "api_key": _("API key"), "api_secret": _("API secret"),
    "signature_secret": _("Signature secret"), "signature_method": _("Signature method"),
    "application_key": _("Application key"), "application_secret": _("Application secret"),
    "consumer_key": _("Consumer key"), "service_name": _("Service name"), "callback_secret": _("Callback secret"),
    "webhook_token": _("Webhook token"), "webhook_username": _("Webhook user name"),
    "webhook_password": _("Webhook password"),
}
# Identifiers, not secrets: shown back so that the administrator can check them.
NOT_SECRET = {"host", "port", "system_id", "system_type", "account_sid", "messaging_service_sid", "service_name",
              "signature_method", "webhook_username"}
# Non-secret settings a kind reads from the account's options.
OPTION_FIELDS = {"twilio": ("sender",), "vonage": ("sender",), "brevo": ("sender",), "smpp": ("source_addr", "window")}
OPTION_LABELS = {"sender": _("Default sender"), "source_addr": _("Default sender (source address)"),
                 "window": _("Messages in flight (window)")}


def creatable_kinds() -> list[str]:
    kinds = list(VENDOR_KINDS) + ["django"]
    if not settings.PRODUCTION:  # the console prints messages: for trying Relance, never in production
        kinds.append("console")
    return kinds


def kind_label(kind: str) -> str:
    return str(KIND_LABELS.get(kind, kind))


class ProviderForm(forms.Form):
    """The fields every kind has, then one field per credential and option of the kind."""

    name = forms.CharField(label=_("Name"), max_length=100,
                           help_text=_("For you, e.g. \"Twilio main\" or \"Operator backup\"."))
    priority = forms.IntegerField(label=_("Priority"), min_value=0, max_value=10000, initial=100,
                                  help_text=_("Lowest first: messages go through the account with the lowest number; "
                                              "the next one takes over when it fails."))
    rate_per_second = forms.FloatField(label=_("Rate limit (messages per second)"), min_value=0, initial=0,
                                       help_text=_("Shared by every sending process. 0 means no limit of ours."))
    country = forms.CharField(label=_("Country of the provider"), min_length=2, max_length=2, initial="FR",
                              help_text=_("Two-letter code, e.g. FR or IE. Outside the EEA, the register of "
                                          "processing lists it as a transfer (R-70)."))
    hosting_region = forms.CharField(label=_("Where it processes the data"), max_length=64, required=False,
                                     help_text=_("Optional, e.g. eu-west-3 or Roubaix."))
    enabled = forms.BooleanField(label=_("In use"), required=False, initial=True,
                                 help_text=_("Untick to stop sending through this account without deleting it."))

    def __init__(self, *args, kind: str, account=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind, self.account = kind, account
        vendor = adapter(kind)
        required = set(vendor.credential_fields)
        kept = account.secrets() if account is not None else {}
        self.credential_names = list(vendor.credential_fields) + list(vendor.optional_credentials)
        for name in self.credential_names:
            label = CREDENTIAL_LABELS.get(name, name)
            if name in NOT_SECRET:
                field = forms.CharField(label=label, max_length=500, required=name in required and account is None,
                                        initial=kept.get(name, ""))
            else:
                help_text = _("Stored encrypted and never shown again. Leave empty to keep the current one.") \
                    if name in kept else _("Stored encrypted and never shown again.")
                field = forms.CharField(label=label, max_length=500, required=name in required and name not in kept,
                                        help_text=help_text, strip=True,
                                        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}))
            self.fields[f"cred_{name}"] = field
        options = (account.options or {}) if account is not None else {}
        for name in OPTION_FIELDS.get(kind, ()):
            if name == "window":
                field = forms.IntegerField(label=OPTION_LABELS[name], min_value=1, max_value=256, required=False,
                                           initial=options.get(name))
            else:
                field = forms.CharField(label=OPTION_LABELS[name], max_length=16, required=False,
                                        initial=options.get(name, ""))
            self.fields[f"opt_{name}"] = field

    def clean_country(self):
        return self.cleaned_data["country"].upper()

    def credentials(self) -> dict | None:
        """The credentials to store, or None when nothing about them changed (edit)."""
        kept = self.account.secrets() if self.account is not None else {}
        new = dict(kept)
        for name in self.credential_names:
            value = str(self.cleaned_data.get(f"cred_{name}") or "").strip()
            if name in NOT_SECRET or value:
                if value:
                    new[name] = int(value) if name == "port" and value.isdigit() else value
                else:
                    new.pop(name, None)
        return None if self.account is not None and new == kept else new

    def fields_for_service(self) -> dict:
        values = {name: self.cleaned_data[name] for name in
                  ("name", "priority", "rate_per_second", "country", "hosting_region", "enabled")}
        options = dict(self.account.options or {}) if self.account is not None else {}
        for name in OPTION_FIELDS.get(self.kind, ()):
            value = self.cleaned_data.get(f"opt_{name}")
            if value in (None, ""):
                options.pop(name, None)
            else:
                options[name] = value
        values["options"] = options
        return values


class ProviderTestForm(forms.Form):
    to = forms.CharField(label=_("Send a test message to"), max_length=254,
                         help_text=_("Your own mobile number (or e-mail address for an e-mail account). It is used "
                                     "for this test only and is not kept."))


# --- webhooks -----------------------------------------------------------------------------------
EVENT_LABELS = {
    "contact.erased": _("A contact was erased (tell connected systems, Art. 19)"),
    "consent.withdrawn": _("Someone withdrew their consent or replied STOP"),
    "message.delivered": _("A message was delivered"),
    "message.failed": _("A message could not be delivered"),
    "request.received": _("A rights request was received"),
    "request.completed": _("A rights request was completed"),
    "breach.recorded": _("A data breach was recorded"),
}


def event_choices() -> list[tuple[str, str]]:
    return [("*", _("Every event, including those added later"))] + [
        (event, f"{event} — {EVENT_LABELS.get(event, '')}") for event in KNOWN_EVENTS]


class WebhookForm(forms.Form):
    url = forms.CharField(label=_("Address of your endpoint"), max_length=500,
                          help_text=_("It must start with https://, e.g. https://example.org/hooks/relance."))
    events = forms.MultipleChoiceField(label=_("Events to send"), choices=event_choices,
                                       widget=forms.CheckboxSelectMultiple)
    description = forms.CharField(label=_("Description"), max_length=200, required=False,
                                  help_text=_("What receives the events, e.g. \"Agenda software\"."))


# --- sending settings ---------------------------------------------------------------------------
DAYS = [(0, _("Monday")), (1, _("Tuesday")), (2, _("Wednesday")), (3, _("Thursday")), (4, _("Friday")),
        (5, _("Saturday")), (6, _("Sunday"))]
FAMILIES = (windows.SERVICE, windows.PROMOTIONAL)
DEFAULT_WINDOWS = {windows.SERVICE: windows.SERVICE_DEFAULT, windows.PROMOTIONAL: windows.PROMOTIONAL_DEFAULT}


def window_values(stored: dict, family: str) -> dict:
    """A family's window as the form shows it: the organisation's overrides over the default (R-22)."""
    default = DEFAULT_WINDOWS[family]
    own = dict((stored or {}).get(family) or {})
    return {"days": sorted(own.get("days", default.days)), "start": str(own.get("start", default.start.strftime("%H:%M"))),
            "end": str(own.get("end", default.end.strftime("%H:%M"))),
            "exclude_holidays": bool(own.get("exclude_holidays", default.exclude_holidays))}


def _words(text: str) -> list[str]:
    return [word.strip() for word in (text or "").replace("\n", ",").split(",") if word.strip()]


class SendingSettingsForm(forms.Form):
    sms_sender = forms.CharField(
        label=_("SMS sender"), max_length=11, required=False,
        help_text=_("The name people see as the sender: 3 to 11 letters or digits, no spaces or accents (e.g. "
                    "MEDIATHEQ), or a short code. Empty: the short name of the organisation."))
    shared_sender = forms.BooleanField(
        label=_("This sender is shared with other organisations"), required=False,
        help_text=_("Then a STOP reply applies to the organisations that wrote to the number in the last 30 days "
                    "(R-31)."))
    stop_mention = forms.CharField(
        label=_("Opt-out mention"), max_length=60, required=False,
        help_text=_("Added to promotional messages so that people can stop them for free, e.g. \"STOP au 36111\" "
                    "(R-25). It must name the keyword to send."))
    email_from = forms.EmailField(label=_("Sender of e-mails"), required=False,
                                  help_text=_("The address e-mails come from, e.g. rappels@example.org."))
    stop_words = forms.CharField(label=_("Extra words that mean STOP"), required=False, max_length=500,
                                 help_text=_("Separated by commas. These always work: %(words)s.")
                                 % {"words": ", ".join(reply_keywords.DEFAULTS["stop"])})
    start_words = forms.CharField(label=_("Extra words that mean START (yes, subscribe again)"), required=False,
                                  max_length=500, help_text=_("Separated by commas. Built in: %(words)s.")
                                  % {"words": ", ".join(reply_keywords.DEFAULTS["start"])})
    info_words = forms.CharField(label=_("Extra words that ask for INFO"), required=False, max_length=500,
                                 help_text=_("Separated by commas. Built in: %(words)s. The reply gives the "
                                             "organisation's identity, the DPO contact and the preferences link.")
                                 % {"words": ", ".join(reply_keywords.DEFAULTS["info"])})
    service_days = forms.TypedMultipleChoiceField(label=_("Days"), choices=DAYS, coerce=int,
                                                  widget=forms.CheckboxSelectMultiple)
    service_start = forms.TimeField(label=_("From"), widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))
    service_end = forms.TimeField(label=_("Until"), widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))
    service_exclude_holidays = forms.BooleanField(label=_("Not on public holidays"), required=False)
    promotional_days = forms.TypedMultipleChoiceField(label=_("Days"), choices=DAYS, coerce=int,
                                                      widget=forms.CheckboxSelectMultiple)
    promotional_start = forms.TimeField(label=_("From"),
                                        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))
    promotional_end = forms.TimeField(label=_("Until"), widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))
    promotional_exclude_holidays = forms.BooleanField(label=_("Not on public holidays"), required=False)
    holiday_subdivision = forms.CharField(
        label=_("Local public holidays"), max_length=8, required=False,
        help_text=_("A region with its own public holidays, e.g. 57 (Moselle) or 6AE (Alsace). Empty: the "
                    "country's holidays."))
    allow_transliteration = forms.BooleanField(
        label=_("Allow replacing special characters"), required=False,
        help_text=_("Characters such as ’ « ê make an SMS cost up to three times more; the template editor may then "
                    "replace them with ' \" e (R-26)."))
    stop_rate_threshold = forms.DecimalField(
        label=_("STOP rate that pauses campaigns (%)"), min_value=0, max_value=100, decimal_places=2,
        help_text=_("When more than this share of the people messaged reply STOP within 24 hours, campaigns are "
                    "paused and administrators alerted (R-34)."))

    WINDOW_FIELDS = ("days", "start", "end", "exclude_holidays")

    @classmethod
    def initial_for(cls, sending) -> dict:
        initial = {name: getattr(sending, name) for name in
                   ("sms_sender", "shared_sender", "stop_mention", "email_from", "holiday_subdivision",
                    "allow_transliteration", "stop_rate_threshold")}
        for family in ("stop", "start", "info"):
            initial[f"{family}_words"] = ", ".join((sending.keywords or {}).get(family, []))
        for family in FAMILIES:
            for name, value in window_values(sending.windows, family).items():
                initial[f"{family}_{name}"] = value
        return initial

    def clean(self):
        cleaned = super().clean()
        for family in FAMILIES:
            start, end = cleaned.get(f"{family}_start"), cleaned.get(f"{family}_end")
            if start and end and start >= end:
                self.add_error(f"{family}_end", _("The end must come after the start (windows across midnight are "
                                                  "not possible)."))
        return cleaned

    def keywords(self) -> dict:
        return {family: words for family in ("stop", "start", "info")
                if (words := _words(self.cleaned_data.get(f"{family}_words", "")))}

    def windows(self) -> dict:
        result = {}
        for family in FAMILIES:
            data = self.cleaned_data
            result[family] = {"days": sorted(data[f"{family}_days"]), "start": data[f"{family}_start"].strftime("%H:%M"),
                              "end": data[f"{family}_end"].strftime("%H:%M"),
                              "exclude_holidays": data[f"{family}_exclude_holidays"]}
        return result

    def changes(self, sending) -> dict:
        """Only what differs from the stored settings goes to the service (its audit names the fields)."""
        wanted = {name: self.cleaned_data[name] for name in
                  ("sms_sender", "shared_sender", "stop_mention", "email_from", "holiday_subdivision",
                   "allow_transliteration", "stop_rate_threshold")}
        wanted["keywords"] = self.keywords()
        wanted["windows"] = self.windows()
        current = {name: getattr(sending, name) for name in wanted}
        current["windows"] = {family: window_values(sending.windows, family) for family in FAMILIES}
        return {name: value for name, value in wanted.items() if value != current[name]}


# --- imports ------------------------------------------------------------------------------------
class ImportForm(forms.Form):
    file = forms.FileField(label=_("CSV file"),
                           help_text=_("Saved from a spreadsheet as CSV (UTF-8 or Windows), separated by ; or , . "
                                       "Columns are recognised by their French or English names: first name, last "
                                       "name, mobile phone, e-mail, reference…"))
    purpose = forms.TypedChoiceField(label=_("Purpose"), required=False, coerce=int, empty_value=None,
                                     help_text=_("Optional. What the contacts are imported for; with a promotional "
                                                 "purpose, every row needs its proof of consent (R-15)."))
    mode = forms.ChoiceField(label=_("If some rows are wrong"), choices=[
        (ImportBatch.Mode.ALL_OR_NOTHING, _("Import nothing until the file is corrected")),
        (ImportBatch.Mode.GOOD_ROWS_ONLY, _("Import the good rows and list the others"))],
        initial=ImportBatch.Mode.ALL_OR_NOTHING, widget=forms.RadioSelect)
    source = forms.CharField(label=_("Where the data comes from"), max_length=300, required=False,
                             help_text=_("E.g. \"registration forms of the library, 2024\". Required for a purpose "
                                         "that does not rest on consent (R-04)."))
    collector = forms.CharField(label=_("Who collected it"), max_length=200, required=False,
                                help_text=_("E.g. the name of the organisation or service that collected the data."))

    def __init__(self, *args, purposes=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["purpose"].choices = [("", _("No purpose (contacts only)"))] + [
            (pk, label) for pk, label in purposes]
