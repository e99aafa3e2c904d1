"""The demo's privacy set-up: every demo organisation gets a complete controller profile, its kind's
preset purposes (health ones with a DPIA reference, R-72) and retention presets (R-52), so that its
Art. 30 register has no empty mandatory field (R-70) from the first `make run`.

Each organisation also gets something to do on the back-office privacy pages: a rights request to
handle (an access request received twelve days ago, from a person of the demo), a dry-run purge
report and a breach whose 72-hour clock is running.

Idempotent. The profile values are an organisation's own details (fictitious), not a person's: they
are stored in clear like the organisation's name (ControllerProfile is not sealed).
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from relance.accounts.models import Organisation
from relance.audit.services import Actor
from relance.consent import presets as purpose_presets
from relance.contacts import services as contacts
from relance.privacy import breaches, retention, rights
from relance.privacy.controller import get_controller_profile, set_controller_profile
from relance.privacy.models import Breach, PurgeReport, RetentionPolicy, RightsRequest
from relance.privacy.purge import run_purge

ACTOR = Actor.system("demo")
DPIA_REF = "AIPD-DEMO-2026"  # the same reference demo_messaging gives the health purposes

PROFILES = {
    "mediatheques-valmont": {
        "legal_name": "Commune de Valmont — réseau des médiathèques", "address": "2 place de la Mairie, 69000 Valmont",
        "contact_email": "contact@mediatheques-valmont.test", "contact_phone": "+33 4 72 10 00 00",
        "registration_number": "SIREN 216 900 000",
        "security_measures": "Postes de prêt verrouillés, sessions nominatives\nPersonnel formé au RGPD chaque année",
    },
    "cabinet-tilleuls": {
        "legal_name": "SCM Cabinet médical des Tilleuls", "address": "8 avenue des Tilleuls, 75014 Paris",
        "contact_email": "secretariat@cabinet-tilleuls.test", "contact_phone": "+33 1 45 00 00 00",
        "registration_number": "SIRET 123 456 789 00012 — FINESS 750000000",
        "security_measures": "Postes du cabinet chiffrés, écran verrouillé après 5 minutes\n"
                             "Hébergement des données de santé certifié HDS",
    },
    "allo-secretariat": {
        "legal_name": "Allô Secrétariat Médical SARL", "address": "12 cours de l'Intendance, 33000 Bordeaux",
        "contact_email": "contact@allo-secretariat.test", "contact_phone": "+33 5 56 00 00 00",
        "registration_number": "SIRET 987 654 321 00034",
        "joint_controllers": "Chaque cabinet médical client reste responsable des rendez-vous de ses patients",
        "security_measures": "Secrétaires tenues au secret professionnel par contrat\nPostes en accès nominatif",
    },
    "spst-ouest": {
        "legal_name": "Association Santé au travail Ouest (SPSTI)", "address": "3 boulevard de la Liberté, 35000 Rennes",
        "contact_email": "contact@spst-ouest.test", "contact_phone": "+33 2 99 00 00 00",
        "registration_number": "SIRET 775 000 000 00011",
        "security_measures": "Dossiers médicaux en santé au travail hors de Relance (logiciel métier HDS)",
    },
}
RETENTION_PRESETS = {Organisation.Kind.LIBRARY: ("library", "audit_12_months")}
DEFAULT_RETENTION_PRESETS = ("sms_platform", "audit_12_months")


def _profile(org: Organisation, values: dict) -> None:
    profile = get_controller_profile(org)
    if profile.pk is None or not profile.legal_name:  # never overwrite what someone changed in the demo
        set_controller_profile(org, actor=ACTOR, **values)


def _retention(org: Organisation) -> None:
    if RetentionPolicy.objects.for_org(org).exists():
        return
    for preset in RETENTION_PRESETS.get(org.kind, DEFAULT_RETENTION_PRESETS):
        retention.apply_preset(org, preset, actor=ACTOR)


# The person who asked for their data (fictitious, like the demo's other people).
REQUESTER = {"first_name": "Lucie", "last_name": "Marchal", "phone": "+33612345690",
             "email": "lucie.marchal@lecteurs.test", "external_ref": "DEMO-DROITS-1"}
BREACH = {
    "title": "Courriel envoyé au mauvais destinataire",
    "nature": "La liste des rendez-vous du jour a été envoyée par erreur à une adresse extérieure.",
    "kinds": ["confidentiality"], "data_categories": ["identity", "contact"],
    "consequences": "Noms et numéros de téléphone lisibles par une personne non autorisée.",
    "measures_taken": "Demande d'effacement adressée au destinataire, qui a confirmé la suppression.",
}


def _cases(org: Organisation) -> None:
    """A request to handle, a purge report and a breach, once per organisation (no audited look-up
    when they exist, so that a second run changes nothing)."""
    now = timezone.now()
    if not RightsRequest.objects.for_org(org).exists():
        person = contacts.create_contact(org, actor=ACTOR, **REQUESTER)
        rights.open_request(org, actor=ACTOR, kind=RightsRequest.Kind.ACCESS, contact=person,
                            channel=RightsRequest.Channel.STAFF, received_at=now - timedelta(days=12),
                            details="Bonjour, je souhaite recevoir une copie de toutes mes données.")
    if not PurgeReport.objects.for_org(org).exists():
        run_purge(org, actor=ACTOR, trigger=PurgeReport.Trigger.COMMAND, dry_run=True)
    if not Breach.objects.for_org(org).exists():
        breaches.record_breach(org, actor=ACTOR, aware_at=now - timedelta(hours=20), **BREACH)


def load_privacy_demo(orgs: dict[str, Organisation]) -> None:
    """Called by relance.ops.demo.load_demo() inside its transaction."""
    for slug, values in PROFILES.items():
        org = orgs.get(slug)
        if org is None:
            continue
        _profile(org, values)
        purpose_presets.apply_preset(org, actor=ACTOR, dpia_ref=DPIA_REF if org.processes_health_data else "")
        _retention(org)
        _cases(org)
