"""Demo data for the embedded default: four organisations of the kinds Relance serves, and staff.

Idempotent: running it again changes nothing. Every personal value below is fictitious and is
listed in DEMO_PERSONAL_VALUES so that a test can prove none of them is stored in clear.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from relance.accounts import services as accounts
from relance.accounts.models import Membership, Organisation
from relance.audit.services import Actor
from relance.ops.demo_privacy import load_privacy_demo

DEMO_PASSWORD = "relance-demo-2026"
ACTOR = Actor.system("demo")

ORGANISATIONS = [
    {
        "slug": "mediatheques-valmont", "name": "Réseau des médiathèques de Valmont", "kind": "library",
        "dpo_name": "Hélène Duparc", "dpo_email": "dpo@mediatheques-valmont.test", "dpo_phone": "+33 4 72 10 20 30",
        "sites": [("centre", "Médiathèque du Centre", "2 place de la Mairie, Valmont"),
                  ("les-pins", "Bibliothèque des Pins", "14 rue des Pins, Valmont"),
                  ("bibliobus", "Bibliobus", "Itinérant")],
    },
    {
        "slug": "cabinet-tilleuls", "name": "Cabinet médical des Tilleuls", "kind": "health",
        "processes_health_data": True,
        "dpo_name": "Marc Lemoine", "dpo_email": "rgpd@cabinet-tilleuls.test", "dpo_phone": "+33 1 45 67 89 10",
        "sites": [("tilleuls", "Cabinet des Tilleuls", "8 avenue des Tilleuls, Paris 14e")],
    },
    {
        "slug": "allo-secretariat", "name": "Allô Secrétariat Médical", "kind": "answering_service",
        "processes_health_data": True,
        "dpo_name": "Sophie Garnier", "dpo_email": "dpo@allo-secretariat.test", "dpo_phone": "+33 5 56 11 22 33",
        "sites": [],
    },
    {
        "slug": "spst-ouest", "name": "Santé au travail Ouest", "kind": "occupational_health",
        "processes_health_data": True,
        "dpo_name": "Yannick Le Goff", "dpo_email": "dpo@spst-ouest.test", "dpo_phone": "+33 2 99 44 55 66",
        "sites": [("rennes", "Centre de Rennes", "3 boulevard de la Liberté, Rennes")],
    },
]

# (e-mail, full name, language, {organisation slug: role})
USERS = [
    ("admin@relance.test", "Camille Rousseau", "fr",
     {"mediatheques-valmont": "admin", "cabinet-tilleuls": "admin", "allo-secretariat": "admin", "spst-ouest": "admin"}),
    ("dpo@relance.test", "Nadia Benali", "fr", {"cabinet-tilleuls": "dpo", "allo-secretariat": "dpo", "spst-ouest": "dpo"}),
    ("secretaire@relance.test", "Julie Moreau", "fr", {"allo-secretariat": "operator", "cabinet-tilleuls": "operator"}),
    ("bibliothecaire@relance.test", "Thomas Girard", "fr", {"mediatheques-valmont": "operator"}),
    ("auditor@relance.test", "Grace Whitfield", "en", {"mediatheques-valmont": "auditor", "spst-ouest": "auditor"}),
]

DEMO_PERSONAL_VALUES = sorted(
    {value for org in ORGANISATIONS for value in (org["dpo_name"], org["dpo_email"])}
    | {"+33472102030", "+33145678910", "+33556112233", "+33299445566"}
    | {email for email, *_ in USERS}
    | {name for _, name, *_ in USERS}
)


@dataclass
class DemoResult:
    created_organisations: int = 0
    created_users: int = 0
    created_memberships: int = 0


def _organisation(spec: dict, result: DemoResult) -> Organisation:
    org = Organisation.objects.filter(slug=spec["slug"]).first()
    if org is None:
        fields = {key: value for key, value in spec.items() if key != "sites"}
        org = accounts.create_organisation(actor=ACTOR, **fields)
        for code, name, address in spec["sites"]:
            accounts.create_site(org, actor=ACTOR, code=code, name=name, address=address)
        result.created_organisations += 1
    return org


@transaction.atomic
def load_demo() -> DemoResult:
    result = DemoResult()
    orgs = {spec["slug"]: _organisation(spec, result) for spec in ORGANISATIONS}
    for email, name, language, roles in USERS:
        user = accounts.find_user_by_email(email)
        if user is None:
            user = accounts.create_user(actor=ACTOR, email=email, password=DEMO_PASSWORD,
                                        full_name=name, language=language)
            result.created_users += 1
        for slug, role in roles.items():
            if not Membership.objects.for_org(orgs[slug]).filter(user=user).exists():
                accounts.add_member(orgs[slug], user, role, actor=ACTOR)
                result.created_memberships += 1
    load_privacy_demo(orgs)
    return result


def logins_text() -> str:
    lines = [f"Demo logins (password for all: {DEMO_PASSWORD}):"]
    for email, _name, _lang, roles in USERS:
        summary = ", ".join(f"{role} @ {slug}" for slug, role in roles.items())
        lines.append(f"  {email:<30} {summary}")
    lines.append("  admin and dpo enrol a second factor (TOTP app) at their first login.")
    return "\n".join(lines)
