"""Preset purposes per kind of organisation, with their notices in French and English (R-01, R-04).

`apply_preset(org, actor=...)` creates the purposes of the organisation's kind, publishes their notices
(the controller's name filled in), and activates them; it is idempotent (existing purposes and
notices are kept as they are). Health purposes need a DPIA reference or a justification (R-72): the
organisation gives it, the preset never invents one; without it they stay in draft and the report
says why. Optional purposes (the SPST consent variant) are created complete but left in draft.

The notices give what Art. 13 GDPR requires: the controller, the purpose, the legal basis (and the
Art. 9(2) condition for health data), the data, the recipients, the retention, the rights, how to
object or withdraw (STOP), how to reach the DPO, and the right to complain to the CNIL. The DPO's own
contact details are not written into the text: they are sealed personal data (R-60); the notice
points to the INFO keyword (R-30), which answers with them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction

from relance.accounts.models import Organisation
from relance.audit.services import Actor

from . import services
from .ages import consent_age
from .models import Notice, Purpose

CNIL_FR = ("Si vous estimez que vos droits ne sont pas respectés, vous pouvez adresser une réclamation à la CNIL "
           "(www.cnil.fr, 3 place de Fontenoy, TSA 80715, 75334 Paris Cedex 07).")
CNIL_EN = ("If you believe your rights are not respected, you may lodge a complaint with the CNIL, the French "
           "data protection authority (www.cnil.fr, 3 place de Fontenoy, TSA 80715, 75334 Paris Cedex 07, France).")

BASIS_FR = {
    "public_task": "l'exécution d'une mission d'intérêt public dont {org} est investi (article 6, paragraphe 1, "
                   "point e) du RGPD)",
    "contract": "l'exécution du contrat qui nous lie à vous, ou des mesures prises à votre demande avant sa "
                "conclusion (article 6, paragraphe 1, point b) du RGPD)",
    "legal_obligation": "une obligation légale à laquelle {org} est soumis (article 6, paragraphe 1, point c) du "
                        "RGPD) : {law}",
    "consent": "votre consentement (article 6, paragraphe 1, point a) du RGPD)",
}
BASIS_EN = {
    "public_task": "the performance of a task carried out in the public interest vested in {org} (Article 6(1)(e) "
                   "GDPR)",
    "contract": "the performance of our contract with you, or of steps taken at your request before entering into "
                "it (Article 6(1)(b) GDPR)",
    "legal_obligation": "a legal obligation {org} is subject to (Article 6(1)(c) GDPR): {law}",
    "consent": "your consent (Article 6(1)(a) GDPR)",
}
ART9_H_FR = ("Comme un rendez-vous médical révèle une information de santé, ce traitement repose aussi sur "
             "l'article 9, paragraphe 2, point h) du RGPD (médecine préventive ou du travail, prise en charge "
             "sanitaire, par des professionnels tenus au secret).")
ART9_H_EN = ("Because a medical appointment reveals health information, this processing also rests on Article "
             "9(2)(h) GDPR (preventive or occupational medicine, provision of health care, by professionals bound by "
             "secrecy).")

CATEGORY_FR = {"identity": "vos nom et prénom", "contact": "votre numéro de téléphone et votre adresse e-mail",
               "appointment": "la date, l'heure et le lieu de vos rendez-vous",
               "loan": "vos prêts et réservations en cours (sans les titres des documents)",
               "health": "le fait que vous ayez un rendez-vous médical (jamais son motif)",
               "employment": "votre employeur", "purchase": "vos achats",
               "preferences": "vos préférences de messages"}
CATEGORY_EN = {"identity": "your first and last names", "contact": "your phone number and e-mail address",
               "appointment": "the date, time and place of your appointments",
               "loan": "your current loans and reservations (without the titles)",
               "health": "the fact that you have a medical appointment (never its reason)",
               "employment": "your employer", "purchase": "your purchases", "preferences": "your message preferences"}


@dataclass(frozen=True)
class Spec:
    code: str
    label_fr: str
    label_en: str
    message_class: str
    legal_basis: str
    data_categories: tuple[str, ...]
    retention_fr: str
    retention_en: str
    retention_days: int
    what_fr: str
    what_en: str
    channels: tuple[str, ...] = ("sms", "email")
    health: bool = False  # Art. 9(2)(h)
    consent_validity_days: int | None = None
    refresh_per_event: bool = False
    law_fr: str = ""
    law_en: str = ""
    optional: bool = False


NS09_FR = "4 mois après le retour du document (ancienne norme simplifiée CNIL NS-09), puis les messages sont effacés"
NS09_EN = "4 months after the item is returned (former CNIL simplified norm NS-09), then the messages are deleted"
APPOINTMENT_FR = "3 mois après le rendez-vous, puis les messages sont effacés"
APPOINTMENT_EN = "3 months after the appointment, then the messages are deleted"
SERVICE_FR = "6 mois après l'envoi, puis les messages sont effacés"
SERVICE_EN = "6 months after sending, then the messages are deleted"

LABOUR_CODE_FR = ("le suivi individuel de l'état de santé des travailleurs (Code du travail, articles L. 4624-1 et "
                  "suivants, R. 4624-10 et suivants)")
LABOUR_CODE_EN = ("the individual monitoring of workers' health (French Labour Code, articles L. 4624-1 ff. and "
                  "R. 4624-10 ff.)")

_APPOINTMENTS = Spec(
    code="appointment-reminders", label_fr="Rappels de rendez-vous", label_en="Appointment reminders",
    message_class="service", legal_basis="contract", data_categories=("identity", "contact", "appointment", "health"),
    retention_fr=APPOINTMENT_FR, retention_en=APPOINTMENT_EN, retention_days=90, health=True,
    what_fr="vous rappeler vos rendez-vous (date, heure, lieu) et vous permettre de les annuler ou de les déplacer",
    what_en="remind you of your appointments (date, time, place) and let you cancel or move them",
)

PRESETS: dict[str, list[Spec]] = {
    Organisation.Kind.LIBRARY: [
        Spec(code="overdue-reminders", label_fr="Rappels de retour de documents", label_en="Overdue-loan reminders",
             message_class="service", legal_basis="public_task", data_categories=("identity", "contact", "loan"),
             retention_fr=NS09_FR, retention_en=NS09_EN, retention_days=120,
             what_fr="vous rappeler les documents empruntés dont la date de retour est dépassée (par e-mail d'abord, "
                     "puis par SMS)",
             what_en="remind you of borrowed items past their return date (by e-mail first, then by SMS)"),
        Spec(code="reserved-items", label_fr="Réservations disponibles", label_en="Reserved items available",
             message_class="service", legal_basis="public_task", data_categories=("identity", "contact", "loan"),
             retention_fr=NS09_FR, retention_en=NS09_EN, retention_days=120,
             what_fr="vous prévenir qu'un document que vous avez réservé vous attend, et jusqu'à quand il vous est "
                     "gardé",
             what_en="tell you that an item you reserved is waiting for you, and until when it is held"),
        Spec(code="closure-news", label_fr="Fermetures et actualités", label_en="Closures and news",
             message_class="service", legal_basis="consent", data_categories=("identity", "contact", "preferences"),
             retention_fr=SERVICE_FR, retention_en=SERVICE_EN, retention_days=180, consent_validity_days=1095,
             what_fr="vous informer des fermetures exceptionnelles et des animations des médiathèques",
             what_en="tell you about exceptional closures and events of the libraries"),
    ],
    Organisation.Kind.HEALTH: [_APPOINTMENTS],
    Organisation.Kind.ANSWERING_SERVICE: [_APPOINTMENTS],
    Organisation.Kind.OCCUPATIONAL_HEALTH: [
        Spec(code="convocations", label_fr="Convocations en santé au travail",
             label_en="Occupational-health convocations", message_class="service", legal_basis="legal_obligation",
             data_categories=("identity", "contact", "appointment", "employment", "health"),
             retention_fr=APPOINTMENT_FR, retention_en=APPOINTMENT_EN, retention_days=90, health=True,
             law_fr=LABOUR_CODE_FR, law_en=LABOUR_CODE_EN,
             what_fr="vous convoquer aux visites et examens de santé au travail et vous les rappeler",
             what_en="invite you to occupational-health visits and examinations, and remind you of them"),
        Spec(code="appointment-reminders-consent", label_fr="Rappels de rendez-vous (avec votre accord)",
             label_en="Appointment reminders (with your consent)", message_class="service", legal_basis="consent",
             data_categories=("identity", "contact", "appointment", "health"), channels=("sms",),
             retention_fr=APPOINTMENT_FR, retention_en=APPOINTMENT_EN, retention_days=90, health=True,
             refresh_per_event=True, optional=True,
             what_fr="vous rappeler par SMS un rendez-vous de santé au travail, si vous l'acceptez pour ce "
                     "rendez-vous",
             what_en="remind you by SMS of an occupational-health appointment, if you accept it for that appointment"),
    ],
    Organisation.Kind.COMPANY: [
        Spec(code="service-notices", label_fr="Informations de service", label_en="Service notices",
             message_class="service", legal_basis="contract", data_categories=("identity", "contact"),
             retention_fr=SERVICE_FR, retention_en=SERVICE_EN, retention_days=180,
             what_fr="vous informer du suivi de vos commandes, rendez-vous et services en cours",
             what_en="keep you informed about your orders, appointments and current services"),
        Spec(code="promotional-offers", label_fr="Offres commerciales", label_en="Commercial offers",
             message_class="promotional_commercial", legal_basis="consent",
             data_categories=("identity", "contact", "preferences"),
             retention_fr="3 ans après votre dernier contact avec nous (recommandation de la CNIL pour la "
                          "prospection), ou jusqu'au retrait de votre consentement",
             retention_en="3 years after your last contact with us (CNIL recommendation for marketing), or until you "
                          "withdraw your consent",
             retention_days=1095, consent_validity_days=1095,
             what_fr="vous envoyer nos offres et promotions", what_en="send you our offers and promotions"),
    ],
    Organisation.Kind.PUBLIC_AUTHORITY: [
        Spec(code="service-notices", label_fr="Informations de service public", label_en="Public service notices",
             message_class="service", legal_basis="public_task", data_categories=("identity", "contact"),
             retention_fr=SERVICE_FR, retention_en=SERVICE_EN, retention_days=180,
             what_fr="vous informer de l'avancement de vos démarches et des interruptions de service qui vous "
                     "concernent",
             what_en="keep you informed of your applications and of service interruptions that concern you"),
        Spec(code="appointment-reminders", label_fr="Rappels de rendez-vous", label_en="Appointment reminders",
             message_class="service", legal_basis="public_task", data_categories=("identity", "contact", "appointment"),
             retention_fr=APPOINTMENT_FR, retention_en=APPOINTMENT_EN, retention_days=90,
             what_fr="vous rappeler vos rendez-vous au guichet (date, heure, lieu)",
             what_en="remind you of your appointments at our offices (date, time, place)"),
    ],
}


def recipients(org: Organisation) -> list[str]:
    if org.default_language == "fr":
        return [f"Personnel habilité de {org.name}", "Relance, sous-traitant (article 28 du RGPD)",
                "Opérateurs d'envoi de SMS et d'e-mails (sous-traitants ultérieurs)"]
    return [f"Authorised staff of {org.name}", "Relance, processor (Article 28 GDPR)",
            "SMS and e-mail delivery providers (sub-processors)"]


def _join(items: list[str], last: str) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + f" {last} " + items[-1]


def _validity_fr(spec: Spec) -> str:
    if spec.refresh_per_event:
        return "Nous vous demandons votre accord à chaque rendez-vous : il ne vaut que pour ce rendez-vous."
    years = (spec.consent_validity_days or 0) // 365
    return f"Votre consentement vaut {years} ans ; nous vous le redemanderons ensuite."


def _validity_en(spec: Spec) -> str:
    if spec.refresh_per_event:
        return "We ask for your agreement for each appointment: it covers that appointment only."
    years = (spec.consent_validity_days or 0) // 365
    return f"Your consent lasts {years} years; we will then ask you again."


def notice_fr(org: Organisation, spec: Spec) -> str:
    age = consent_age(org.country)
    basis = BASIS_FR[spec.legal_basis].format(org=org.name, law=spec.law_fr)
    parts = [
        f"{spec.label_fr} — information sur vos données personnelles",
        f"Responsable du traitement : {org.name}.",
        f"Finalité : nous utilisons vos coordonnées pour {spec.what_fr}.",
        f"Base légale : {basis}." + (f" {ART9_H_FR}" if spec.health else ""),
        "Données utilisées : " + _join([CATEGORY_FR[c] for c in spec.data_categories], "et") + ". "
        "Les messages ne contiennent que le nécessaire.",
        "Destinataires : " + _join(recipients_fr(org), "et") + ". Vos données ne sont ni vendues ni cédées.",
        f"Durée de conservation : {spec.retention_fr}.",
    ]
    rights = "l'accès à vos données, leur rectification, leur effacement et la limitation de leur traitement"
    if spec.legal_basis == "consent":
        minors = (f"Si vous avez moins de {age.age} ans, il faut votre accord et celui d'un titulaire de l'autorité "
                  "parentale." if age.joint else
                  f"Si vous avez moins de {age.age} ans, il faut l'accord d'un titulaire de l'autorité parentale.")
        parts.append("Ces messages reposent sur votre consentement, libre et facultatif : le refuser ne change rien à "
                      "votre accès à nos services. Vous pouvez le retirer à tout moment, aussi simplement que vous "
                      f"l'avez donné. {_validity_fr(spec)} {minors}")
        rights += ", ainsi que leur portabilité"
    elif spec.legal_basis == "public_task":
        rights += ", et vous opposer à ce traitement pour des raisons tenant à votre situation particulière"
    elif spec.legal_basis == "contract":
        rights += ", ainsi que leur portabilité"
    parts.append(
        f"Vos droits : vous pouvez demander {rights}. Pour ne plus recevoir nos SMS, répondez STOP à l'un d'eux : "
        "c'est pris en compte immédiatement, l'envoi de STOP est facturé au prix d'un SMS ordinaire selon votre "
        "forfait et la confirmation ne vous coûte rien."
        + (" Les convocations vous parviendront alors par un autre moyen." if spec.legal_basis == "legal_obligation"
           else "")
        + f" Pour joindre notre délégué à la protection des données, répondez INFO à l'un de nos SMS ou écrivez à "
          f"{org.name}.")
    parts.append(CNIL_FR)
    return "\n\n".join(parts) + "\n"


def notice_en(org: Organisation, spec: Spec) -> str:
    age = consent_age(org.country)
    basis = BASIS_EN[spec.legal_basis].format(org=org.name, law=spec.law_en)
    parts = [
        f"{spec.label_en} — how we use your personal data",
        f"Controller: {org.name}.",
        f"Purpose: we use your contact details to {spec.what_en}.",
        f"Legal basis: {basis}." + (f" {ART9_H_EN}" if spec.health else ""),
        "Data used: " + _join([CATEGORY_EN[c] for c in spec.data_categories], "and") + ". "
        "Messages contain only what is necessary.",
        "Recipients: " + _join(recipients_en(org), "and") + ". Your data is neither sold nor passed on.",
        f"Retention: {spec.retention_en}.",
    ]
    rights = "access to your data, its rectification, its erasure and the restriction of its processing"
    if spec.legal_basis == "consent":
        minors = (f"If you are under {age.age}, both you and a holder of parental responsibility must agree."
                  if age.joint else f"If you are under {age.age}, a holder of parental responsibility must agree.")
        parts.append("These messages rest on your consent, which is free and optional: refusing it changes nothing to "
                     "your access to our services. You can withdraw it at any time, as easily as you gave it. "
                     f"{_validity_en(spec)} {minors}")
        rights += ", and its portability"
    elif spec.legal_basis == "public_task":
        rights += ", and object to this processing on grounds relating to your particular situation"
    elif spec.legal_basis == "contract":
        rights += ", and its portability"
    parts.append(
        f"Your rights: you may ask for {rights}. To stop receiving our SMS, reply STOP to any of them: it takes "
        "effect at once; sending STOP costs the price of an ordinary SMS under your plan and the confirmation costs "
        "you nothing."
        + (" Convocations will then reach you by other means." if spec.legal_basis == "legal_obligation" else "")
        + f" To reach our data protection officer, reply INFO to any of our SMS or write to {org.name}.")
    parts.append(CNIL_EN)
    return "\n\n".join(parts) + "\n"


def recipients_fr(org: Organisation) -> list[str]:
    return [f"le personnel habilité de {org.name}", "Relance, notre sous-traitant (article 28 du RGPD)",
            "les opérateurs d'envoi de SMS et d'e-mails (sous-traitants ultérieurs)"]


def recipients_en(org: Organisation) -> list[str]:
    return [f"the authorised staff of {org.name}", "Relance, our processor (Article 28 GDPR)",
            "SMS and e-mail delivery providers (sub-processors)"]


NOTICES = {"fr": notice_fr, "en": notice_en}


@dataclass
class PresetReport:
    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    notices: dict[str, list[str]] = field(default_factory=dict)
    activated: list[str] = field(default_factory=list)
    drafts: dict[str, dict] = field(default_factory=dict)


def _values(org: Organisation, spec: Spec, dpia_ref: str, dpia_not_needed_reason: str) -> dict:
    french = org.default_language == "fr"
    values = {
        "label_fr": spec.label_fr, "label_en": spec.label_en, "message_class": spec.message_class,
        "legal_basis": spec.legal_basis, "data_categories": list(spec.data_categories),
        "recipients": recipients(org), "retention": spec.retention_fr if french else spec.retention_en,
        "retention_days": spec.retention_days, "channels": list(spec.channels),
        "consent_validity_days": spec.consent_validity_days, "refresh_per_event": spec.refresh_per_event,
    }
    if spec.health:
        values["art9_condition"] = Purpose.Art9.H
        values.update(dpia_ref=dpia_ref, dpia_not_needed_reason=dpia_not_needed_reason)
    elif org.processes_health_data:
        values["art9_condition"] = Purpose.Art9.NONE
    return values


@transaction.atomic
def apply_preset(org: Organisation, *, actor: Actor, dpia_ref: str = "", dpia_not_needed_reason: str = "") -> PresetReport:
    """Create, publish and activate the preset purposes of the organisation's kind (idempotent)."""
    report = PresetReport()
    for spec in PRESETS.get(org.kind, []):
        purpose = Purpose.objects.for_org(org).filter(code=spec.code).first()
        if purpose is None:
            purpose = services.create_purpose(org, actor=actor, code=spec.code,
                                              **_values(org, spec, dpia_ref, dpia_not_needed_reason))
            report.created.append(spec.code)
        else:
            report.existing.append(spec.code)
            if (purpose.status == Purpose.Status.DRAFT and purpose.involves_health_data and (dpia_ref or dpia_not_needed_reason)
                    and not (purpose.dpia_ref or purpose.dpia_not_needed_reason)):
                purpose = services.update_purpose(purpose, actor=actor, dpia_ref=dpia_ref,
                                                  dpia_not_needed_reason=dpia_not_needed_reason)
        published = set(Notice.objects.for_org(org).filter(purpose=purpose).values_list("language", flat=True))
        for language, write in NOTICES.items():
            if language not in published:
                services.publish_notice(purpose, actor=actor, language=language, text=write(org, spec))
                report.notices.setdefault(spec.code, []).append(language)
        if purpose.status != Purpose.Status.DRAFT:
            continue
        if spec.optional:
            report.drafts[spec.code] = {}
            continue
        try:
            services.activate_purpose(purpose, actor=actor)
            report.activated.append(spec.code)
        except ValidationError as exc:
            report.drafts[spec.code] = exc.message_dict
    return report
