"""The demo's messages: a library network and a medical practice whose reminders are due within a
minute of `make run`, sent by the worker to the console provider and shown on the simulated phone.

Idempotent: purposes, settings, templates, rules and contacts are created once; the events are
upserted at every start with times relative to now, so reminders flow again after each start.
Every personal value below is fictitious and listed in DEMO_MESSAGING_VALUES for the leak test. The
numbers are ordinary-looking mobiles (the range ARCEP reserves for fiction, 06 39 98, is rejected as
invalid by libphonenumber); the demo sends only to the console provider, never to a network.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from relance.accounts.models import Organisation, Site
from relance.audit.services import Actor
from relance.consent import presets
from relance.consent import services as consent
from relance.consent.models import ConsentState, Information, Purpose
from relance.contacts import services as contacts
from relance.messaging import campaigns
from relance.messaging import templates as templating
from relance.messaging.models import Campaign, Template
from relance.messaging.sending import settings_for
from relance.reminders import services as reminders
from relance.reminders.models import ReminderRule

ACTOR = Actor.system("demo")

# The demo must show reminders flowing at whatever hour someone runs `make run`, so its two
# organisations send service messages around the clock. Real organisations keep the R-22 defaults
# (service 08:00–21:00); the settings page and the API change them per organisation.
DEMO_WINDOWS = {"service": {"start": "00:00", "end": "23:59"}}

# slug: sending settings, templates (purpose code, template code, channel, subject, body), rules, contacts, events
LIBRARY = {
    "slug": "mediatheques-valmont",
    "settings": {"sms_sender": "VALMONT", "stop_mention": "STOP au 36111", "windows": DEMO_WINDOWS},
    "templates": [
        ("overdue-reminders", "retard", "sms", "",
         "Bonjour {first_name}, des documents empruntés sont à rendre depuis le {due_date}. "
         "Rapportez-les ou prolongez-les sur {link} - {org}"),
        ("overdue-reminders", "retard-mail", "email", "Documents à rendre - {org}",
         "Bonjour {first_name},\n\nDes documents empruntés sont à rendre depuis le {due_date}.\n"
         "Vous pouvez les rapporter dans la médiathèque de votre choix ou les prolonger sur {link}.\n\n{org}"),
        ("reserved-items", "reservation", "sms", "",
         "Bonjour {first_name}, un document que vous avez réservé vous attend à {place}. {org}"),
        ("closure-news", "fermeture", "sms", "",
         "Bonjour {first_name}, les médiathèques de Valmont seront fermées lundi pour inventaire. "
         "Réouverture mardi 10h. {org}"),
    ],
    "rules": [
        ("overdue-reminders", "loan_due", "Retards : J+3 SMS, J+10 e-mail, J+21 SMS",
         [(3 * 1440, "sms", "retard"), (10 * 1440, "email", "retard-mail"), (21 * 1440, "sms", "retard")]),
        ("reserved-items", "reserved_item", "Réservation disponible", [(0, "sms", "reservation")]),
    ],
    "contacts": [
        ("DEMO-LEC-1", "Léa", "Fontaine", "+33612345601", "lea.fontaine@lecteurs.test", "centre"),
        ("DEMO-LEC-2", "Mathis", "Bernard", "+33612345602", "mathis.bernard@lecteurs.test", "les-pins"),
        ("DEMO-LEC-3", "Zoé", "Lambert", "+33612345603", "", "centre"),
    ],
    # (external id, kind, purpose, contact, starts in (minutes from now), hold (minutes) or None)
    "events": [
        ("DEMO-PRET-1", "loan_due", "overdue-reminders", "DEMO-LEC-1", -3 * 1440 + 1, None),
        ("DEMO-PRET-2", "loan_due", "overdue-reminders", "DEMO-LEC-3", -3 * 1440 + 2, None),
        ("DEMO-RESA-1", "reserved_item", "reserved-items", "DEMO-LEC-2", 1, 7 * 1440),
    ],
    # A draft campaign ready to launch from the back-office: its purpose is consent-based, so the page
    # shows who said yes (consent recorded below) and who is left out, and why.
    "campaign": {"name": "Fermeture lundi (inventaire)", "purpose": "closure-news", "template": "fermeture",
                 "consented": ("DEMO-LEC-1", "DEMO-LEC-2")},
}
PRACTICE = {
    "slug": "cabinet-tilleuls",
    "settings": {"sms_sender": "TILLEULS", "stop_mention": "STOP au 36111", "windows": DEMO_WINDOWS},
    "templates": [
        ("appointment-reminders", "rappel-rdv", "sms", "",
         "Bonjour {first_name}, rappel de votre rendez-vous {date} à {time}, {place}. "
         "Pour annuler, appelez le {callback}."),
    ],
    "rules": [("appointment-reminders", "appointment", "Rendez-vous : SMS 2 h avant", [(-120, "sms", "rappel-rdv")])],
    "contacts": [
        ("DEMO-PAT-1", "Hugo", "Mercier", "+33612345611", "hugo.mercier@patients.test", "tilleuls"),
        ("DEMO-PAT-2", "Inès", "Roussel", "+33612345612", "", "tilleuls"),
    ],
    "events": [
        ("DEMO-RDV-1", "appointment", "appointment-reminders", "DEMO-PAT-1", 120 + 1, None),
        ("DEMO-RDV-2", "appointment", "appointment-reminders", "DEMO-PAT-2", 120 + 3, None),
        # two days ahead: its reminder stays planned, to look at in "Events and reminders"
        ("DEMO-RDV-3", "appointment", "appointment-reminders", "DEMO-PAT-1", 2 * 1440 + 30, None),
    ],
    "event_params": {"callback": "01 45 67 89 10"},
}
DEMOS = (LIBRARY, PRACTICE)

DEMO_MESSAGING_VALUES = sorted(
    {value for demo in DEMOS for row in demo["contacts"] for value in row[1:5] if value}
    | {row[0] for demo in DEMOS for row in demo["contacts"]}
    | {row[0] for demo in DEMOS for row in demo["events"]}
)


@dataclass
class MessagingDemo:
    events: int = 0
    created: list[str] = field(default_factory=list)


def _purposes(org: Organisation) -> dict[str, Purpose]:
    presets.apply_preset(org, actor=ACTOR, dpia_ref="AIPD-DEMO-2026" if org.processes_health_data else "")
    return {p.code: p for p in Purpose.objects.for_org(org).filter(status=Purpose.Status.ACTIVE)}


def _templates(org, purposes, demo, result) -> None:
    for code, template_code, channel, subject, body in demo["templates"]:
        purpose = purposes[code]
        if not Template.objects.for_org(org).filter(purpose=purpose, code=template_code, channel=channel).exists():
            templating.create_template(org, actor=ACTOR, purpose=purpose, code=template_code, channel=channel,
                                       language="fr", body=body, subject=subject)
            result.created.append(f"template {template_code}")


def _rules(org, purposes, demo, result) -> None:
    for code, kind, name, steps in demo["rules"]:
        purpose = purposes[code]
        if not ReminderRule.objects.for_org(org).filter(purpose=purpose, event_kind=kind, active=True).exists():
            reminders.create_rule(org, actor=ACTOR, purpose=purpose, event_kind=kind, name=name, steps=[
                {"offset_minutes": offset, "channel": channel, "template": template}
                for offset, channel, template in steps])
            result.created.append(f"rule {name}")


def _contacts(org, purposes, demo, result) -> dict:
    found = {}
    sites = {site.code: site for site in Site.objects.for_org(org)}
    for ref, first, last, phone, email, site in demo["contacts"]:
        contact = contacts.find_by_external_ref(org, ref, actor=ACTOR)
        if contact is None:
            contact = contacts.create_contact(org, actor=ACTOR, first_name=first, last_name=last, phone=phone,
                                              email=email or None, external_ref=ref, site=sites.get(site))
            result.created.append(f"contact {contact.pk}")
        for purpose in purposes.values():
            if purpose.legal_basis != "consent" and not Information.objects.for_org(org).filter(
                    contact=contact, purpose=purpose).exists():
                notice = consent.current_notice(purpose, "fr")
                consent.record_information(purpose, notice, actor=ACTOR, method="paper_form", contact=contact)
        found[ref] = contact
    return found


def _events(org, purposes, people, demo, result) -> None:
    now = timezone.now().replace(second=0, microsecond=0)
    for external_id, kind, code, person, minutes, hold in demo["events"]:
        contact = people[person]
        starts = now + timedelta(minutes=minutes)
        reminders.upsert_event(org, actor=ACTOR, external_id=external_id, kind=kind, contact=contact,
                               purpose=purposes[code], starts_at=starts, site=contact.site,
                               ends_at=starts + timedelta(minutes=hold) if hold else None,
                               params=demo.get("event_params"))
        result.events += 1


def _campaign(org, purposes, people, demo, result) -> None:
    """A draft campaign (created once) whose consented audience is recorded on paper forms."""
    spec = demo.get("campaign")
    if spec is None:
        return
    purpose = purposes[spec["purpose"]]
    notice = consent.current_notice(purpose, "fr")
    for ref in spec["consented"]:
        contact = people[ref]
        if not ConsentState.objects.for_org(org).filter(contact=contact, purpose=purpose, channel="sms").exists():
            consent.record_consent(contact, purpose, "sms", "given", actor=ACTOR, expressed_by="subject",
                                   method="paper_form", notice=notice,
                                   evidence={"form_ref": "Fiche d'inscription (démo)"})
    if Campaign.objects.for_org(org).filter(name=spec["name"]).exists():
        return
    template = Template.objects.for_org(org).get(purpose=purpose, code=spec["template"], channel="sms", language="fr")
    campaigns.create_campaign(org, actor=ACTOR, name=spec["name"], purpose=purpose, template=template)
    result.created.append(f"campaign {spec['name']}")


@transaction.atomic
def load_messaging_demo() -> MessagingDemo:
    result = MessagingDemo()
    for demo in DEMOS:
        org = Organisation.objects.get(slug=demo["slug"])
        purposes = _purposes(org)
        sending = settings_for(org)
        if not sending.sms_sender:
            templating.update_sending_settings(org, actor=ACTOR, **demo["settings"])
        _templates(org, purposes, demo, result)
        _rules(org, purposes, demo, result)
        people = _contacts(org, purposes, demo, result)
        _events(org, purposes, people, demo, result)
        _campaign(org, purposes, people, demo, result)
    return result
