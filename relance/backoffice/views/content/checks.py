"""The activation checks of a purpose in plain words (R-01, R-02, R-03, R-13, R-72).

consent.services.activation_errors() decides what blocks; this module only says, for each check that
applies to this purpose, what it is about, whether it is fine, and what to do when it is not.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.urls import reverse
from django.utils.translation import gettext as _

from relance.consent import services
from relance.consent.models import Purpose
from relance.consent.policy import Basis, MessageClass


@dataclass
class Check:
    key: str
    label: str
    todo: str
    link: str = ""
    link_label: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


LANGUAGE_NAMES = {"fr": lambda: _("French"), "en": lambda: _("English")}


def _language(code: str) -> str:
    name = LANGUAGE_NAMES.get(code)
    return name() if name else code


def checks_of(purpose: Purpose) -> list[Check]:
    """Every check that applies to this purpose, blocking ones carrying the service's messages."""
    org = purpose.organisation
    errors = services.activation_errors(purpose)
    edit = reverse("backoffice:purpose_edit", kwargs={"purpose_id": purpose.pk})
    publish = reverse("backoffice:notice_publish", kwargs={"purpose_id": purpose.pk})
    fix = _("Change the purpose")
    languages = [code for code in (org.languages or ["fr"]) if code in ("fr", "en")]
    found = [Check(f"label_{code}", _("Name in %(language)s") % {"language": _language(code)},
                   _("Give the purpose a name in %(language)s: people see it on their preferences page.")
                   % {"language": _language(code)}, edit, fix) for code in languages]
    found += [
        Check("message_class", _("Kind of messages"),
              _("Say whether these are service notices, promotional messages or consent requests."), edit, fix),
        Check("legal_basis", _("Legal basis"),
              _("Choose the legal basis (Art. 6 GDPR): consent, contract, legal obligation, public task, vital or "
                "legitimate interests."), edit, fix),
    ]
    if org.processes_health_data:
        found.append(Check("art9_condition", _("Health data condition (Art. 9)"),
                           _("Your organisation processes health data: choose the Art. 9(2) condition, or “no "
                             "special-category data” if this purpose has none."), edit, fix))
    found += [
        Check("data_categories", _("Data used"), _("Tick the kinds of data the messages use."), edit, fix),
        Check("recipients", _("Recipients"), _("List who receives the data, one per line."), edit, fix),
        Check("retention", _("Retention in words"), _("Say how long the data is kept, as people will read it."),
              edit, fix),
        Check("retention_days", _("Retention in days"), _("Give the retention as a number of days."), edit, fix),
        Check("channels", _("Channels"), _("Tick SMS, e-mail or both."), edit, fix),
    ]
    if purpose.legal_basis == Basis.CONSENT:
        found.append(Check("consent_validity_days", _("How long consent lasts"),
                           _("Give a number of days, or tick “ask again at each appointment” (R-13)."), edit, fix))
    if purpose.legal_basis == Basis.LEGITIMATE_INTEREST:
        found.append(Check("balancing_test_ref", _("Balancing test"),
                           _("Record the reference of your balancing test (R-02)."), edit, fix))
    if purpose.message_class == MessageClass.PROMOTIONAL_COMMERCIAL and purpose.legal_basis != Basis.CONSENT:
        found.append(Check("existing_customer_scope", _("Existing customers"),
                           _("Commercial promotion needs consent; without it, describe the sale and the similar "
                             "products of the existing-customer exception (R-03)."), edit, fix))
    if org.processes_health_data and purpose.involves_health_data:
        found.append(Check("dpia_ref", _("Impact assessment (DPIA)"),
                           _("Record the DPIA reference, or explain why none is needed (R-72)."), edit, fix))
    found.append(Check("notices", _("Notices published"),
                       _("Publish the notice in every language of your organisation: %(languages)s.")
                       % {"languages": ", ".join(_language(code) for code in (org.languages or ["fr"]))},
                       publish, _("Publish a notice")))
    by_key = {check.key: check for check in found}
    for key, messages in errors.items():
        check = by_key.get(key)
        if check is None:  # a check this page does not describe yet: shown as the service words it
            check = Check(key, key, "", edit, fix)
            by_key[key] = check
            found.append(check)
        check.problems.extend(messages)
    return found
