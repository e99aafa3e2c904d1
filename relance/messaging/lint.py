"""The template linter: health content (R-24), promotional mentions (R-25), placeholders, and the
length and encoding of an SMS (R-26). Pure: plain values in, a list of `Problem` out.

An "error" keeps the template from being saved; a "warning" informs (cost, encoding).

Why a word list (R-24). An SMS or an e-mail preview is read on a locked screen, a shared phone, a
family tablet: a reminder saying "your gynaecology appointment" or "your blood test results" tells
whoever sees it something about the person's health, which GDPR Art. 9 protects and Art. 5(1)(c)
(data minimisation) says not to disclose beyond what the purpose needs. A reminder needs a date, a
time, a place and a call-back number; the specialty, the reason for the visit, a diagnosis or an
exam are never needed. The idea follows:
- CNIL, référentiel « gestion des cabinets médicaux et paramédicaux » (délibération n° 2020-081 du
  18 juin 2020): appointment management is a purpose of its own, to be run with the data strictly
  needed for it;
- CNIL / Conseil national de l'Ordre des médecins, « Guide pratique sur la protection des données
  personnelles » (2018): medical secrecy covers the very fact of a consultation and its nature;
- GDPR Art. 5(1)(c) and 9(1); Code de la santé publique L.1110-4 (secret médical).
The list is ours, French and English, deliberately generous; a DPO may let a word through with a
recorded justification (`overrides`). Matching ignores case, accents and a plural "s"/"x", and only
whole words count ("scanner" blocks "SCANNERS", never "scannerisé").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from django.utils.translation import gettext as _

from relance.consent.policy import PROMOTIONAL_CLASSES
from relance.lib import sms_text

from .render import PLACEHOLDERS

ERROR, WARNING = "error", "warning"
MAX_SMS_SEGMENTS = 2  # beyond this a reminder costs more than it should: a warning, not a refusal
PROMOTIONAL = {str(c) for c in PROMOTIONAL_CLASSES}
BRACED = re.compile(r"\{([^{}]*)\}")
KNOWN = re.compile(r"^[a-z_]+$")
# Opt-out words a promotional SMS may quote when it writes the mention out itself.
OPT_OUT_WORDS = ("stop", "arret", "desabonner", "unsubscribe")
EMPTY_SET = "\u2205"  # shown for a character transliteration removes (zero-width space, soft hyphen)

# --- the R-24 vocabulary: specialties, reasons for a visit, diagnoses, exams ----------------
SPECIALTIES = (
    "cardiologie", "cardiologue", "gynécologie", "gynécologue", "obstétrique", "obstétricien", "psychiatrie",
    "psychiatre", "pédopsychiatre", "psychologue", "psychothérapie", "psychothérapeute", "psychanalyste",
    "dermatologie", "dermatologue", "oncologie", "oncologue", "cancérologie", "cancérologue", "neurologie",
    "neurologue", "urologie", "urologue", "gastro-entérologie", "gastroentérologie", "gastro-entérologue",
    "pneumologie", "pneumologue", "rhumatologie", "rhumatologue", "endocrinologie", "endocrinologue",
    "néphrologie", "néphrologue", "hématologie", "ophtalmologie", "ophtalmologue", "ORL", "addictologie",
    "addictologue", "sexologie", "sexologue", "proctologie", "proctologue", "andrologie", "infectiologie",
    "radiologie", "radiologue", "gériatrie", "sage-femme", "planning familial", "médecine nucléaire",
    # English
    "cardiology", "cardiologist", "gynecology", "gynaecology", "gynecologist", "gynaecologist", "obstetrics",
    "obstetrician", "psychiatry", "psychiatrist", "psychologist", "psychotherapy", "psychotherapist",
    "dermatology", "dermatologist", "oncology", "oncologist", "neurology", "neurologist", "urology", "urologist",
    "gastroenterology", "pulmonology", "rheumatology", "endocrinology", "nephrology", "hematology", "haematology",
    "ophthalmology", "radiology", "radiologist", "sexual health", "family planning", "nuclear medicine",
)
REASONS = (
    "IVG", "avortement", "grossesse", "enceinte", "contraception", "stérilet", "fausse couche", "infertilité",
    "FIV", "PMA", "dépistage", "VIH", "sida", "séropositif", "IST", "MST", "hépatite", "chimiothérapie", "chimio",
    "radiothérapie", "dialyse", "cancer", "tumeur", "métastase", "diabète", "insuline", "dépression", "addiction",
    "alcoolisme", "toxicomanie", "sevrage", "méthadone", "alzheimer", "parkinson", "épilepsie", "schizophrénie",
    "bipolaire", "autisme", "obésité", "hypertension", "vaccination", "vaccin", "chirurgie", "anesthésie",
    # English
    "abortion", "pregnancy", "pregnant", "miscarriage", "infertility", "IVF", "screening", "HIV", "AIDS", "STD",
    "STI", "hepatitis", "chemotherapy", "chemo", "radiotherapy", "dialysis", "tumour", "tumor", "metastasis",
    "diabetes", "insulin", "depression", "alcoholism", "rehab", "methadone", "epilepsy", "schizophrenia",
    "bipolar", "autism", "obesity", "vaccine", "surgery", "anaesthesia", "anesthesia",
)
EXAMS = (
    "IRM", "scanner", "radiographie", "radio", "échographie", "mammographie", "coloscopie", "endoscopie",
    "fibroscopie", "biopsie", "scintigraphie", "électrocardiogramme", "ECG", "EEG", "TEP", "prise de sang",
    "bilan sanguin", "analyse", "frottis", "test PCR",
    # English
    "MRI", "CT scan", "X-ray", "ultrasound", "mammogram", "mammography", "colonoscopy", "endoscopy", "biopsy",
    "EKG", "PET scan", "blood test", "blood sample", "analysis", "smear test", "pap smear",
)
HEALTH_WORDS = SPECIALTIES + REASONS + EXAMS

# Placeholder names allowed for organisations processing health data, from render.PLACEHOLDERS.
HEALTH_PLACEHOLDERS = frozenset(name for name, (_what, health) in PLACEHOLDERS.items() if health)
OFF_BY_DEFAULT = frozenset({"item_title"})  # library notices carry no item titles unless overridden


@dataclass(frozen=True)
class Problem:
    code: str
    severity: str  # ERROR blocks saving, WARNING informs
    field: str  # "body" or "subject"
    word: str  # the word, placeholder or characters at fault
    message: str  # in the active language: which word or field, and why
    rule: str = ""

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR

    def as_dict(self) -> dict:
        return asdict(self)


# --- normalisation -------------------------------------------------------------------------
_LIGATURES = str.maketrans({"œ": "oe", "Œ": "OE", "æ": "ae", "Æ": "AE", "ß": "ss"})
_TOKEN = re.compile(r"[a-z0-9]+")


def _fold_char(ch: str) -> str:
    decomposed = unicodedata.normalize("NFKD", ch.translate(_LIGATURES))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def fold(text: str) -> str:
    """Lower case without accents or ligatures: "Échographie" and "ECHOGRAPHIE" fold alike."""
    return "".join(_fold_char(ch) for ch in text or "")


def _folded_with_origin(text: str) -> tuple[str, list[int]]:
    """The folded text and, for each of its characters, the index of the original character."""
    pieces, origin = [], []
    for index, ch in enumerate(text or ""):
        piece = _fold_char(ch)
        pieces.append(piece)
        origin.extend([index] * len(piece))
    return "".join(pieces), origin


def tokens(text: str) -> list[tuple[str, int, int]]:
    """Whole words of the folded text, each with its (start, end) in the ORIGINAL text."""
    folded, origin = _folded_with_origin(text)
    return [(m.group(), origin[m.start()], origin[m.end() - 1] + 1) for m in _TOKEN.finditer(folded)]


def singular(token: str) -> str:
    return token[:-1] if len(token) > 3 and token[-1] in "sx" else token


def _key(term: str) -> tuple[str, ...]:
    return tuple(tok for tok, _s, _e in tokens(term))


class Vocabulary:
    """Terms (one or several words) found as whole words, whatever the case, accents or plural."""

    def __init__(self, terms: Iterable[str]):
        self.terms: dict[tuple[str, ...], str] = {_key(term): term for term in terms if _key(term)}
        self.by_first: dict[str, list[tuple[str, ...]]] = {}
        for key in sorted(self.terms, key=len, reverse=True):  # longest first: "prise de sang" before "sang"
            self.by_first.setdefault(key[0], []).append(key)

    def find(self, text: str) -> list[tuple[str, str]]:
        """(term as listed, text as written) for each occurrence, in order."""
        words, found, i = tokens(text), [], 0
        while i < len(words):
            hit = self._match_at(words, i)
            if hit is None:
                i += 1
                continue
            start, end = words[i][1], words[i + len(hit) - 1][2]
            found.append((self.terms[hit], text[start:end]))
            i += len(hit)
        return found

    def _match_at(self, words, i):
        for form in {words[i][0], singular(words[i][0])}:
            for key in self.by_first.get(form, ()):
                window = words[i:i + len(key)]
                if len(window) == len(key) and all(_same(w[0], k) for w, k in zip(window, key, strict=True)):
                    return key
        return None

    def term_for(self, word: str) -> str | None:
        """The term as listed for `word` ("Cardiologies" → "cardiologie"), or None when it is not one."""
        key = _key(word)
        return self.terms.get(key) or self.terms.get(tuple(singular(t) for t in key))


def _same(token: str, term_token: str) -> bool:
    return token == term_token or singular(token) == term_token


HEALTH = Vocabulary(HEALTH_WORDS)


def overridden(term: str, written: str, overrides: Iterable[str]) -> bool:
    keys = {tuple(singular(t) for t in _key(word)) for word in overrides}
    return any(tuple(singular(t) for t in _key(value)) in keys for value in (term, written))


# --- sample values: what a preview and the length check fill placeholders with --------------
def sample_values(language: str = "fr", *, org_name: str = "", sender: str = "", stop_mention: str = "",
                  site_name: str = "") -> dict[str, str]:
    """Realistic values of a typical length, so that segment counts are close to the real ones."""
    org = org_name or ("Cabinet du Dr Martin" if language == "fr" else "Dr Martin's practice")
    values = {
        "first_name": "Camille", "initials": "C.D.", "last_name": "Mme D." if language == "fr" else "Ms D.",
        "place": site_name or org, "site": site_name or org, "callback": "01 23 45 67 89",
        "link": "https://relance.example/p/s/k7Qx2mZ9aB3dE5fG7hJ9kL1m/", "notice_link": "https://relance.example/p/notices/3f9a",
        "org": org, "sender": sender or org, "stop": stop_mention or "STOP au 36111", "count": "2",
        "item_title": "Les Misérables",
    }
    if language == "en":
        values.update(date="Tuesday 3 March", time="14:30", due_date="Friday 13 March", keyword="YES",
                      reason="check-up")
    else:
        values.update(date="mardi 3 mars", time="14h30", due_date="vendredi 13 mars", keyword="OUI",
                      reason="consultation")
    return values


def fill(text: str, values: dict[str, str]) -> str:
    """Known placeholders replaced by their values; anything else left as written (the linter reports it)."""
    return BRACED.sub(lambda m: values.get(m.group(1), m.group(0)) if m.group(1) in PLACEHOLDERS else m.group(0),
                      text or "")


# --- the checks ----------------------------------------------------------------------------
def lint(body: str, subject: str = "", *, channel: str, message_class: str, processes_health_data: bool,
         org_kind: str, overrides: Iterable[str] = (), stop_mention: str = "", sender: str = "", org_name: str = "",
         language: str = "fr", sample: dict[str, str] | None = None, transliterate: bool = False) -> list[Problem]:
    """Every problem of a template at once, errors first, each naming its word or field and its rule."""
    overrides = tuple(overrides)
    fields = {"body": body or ""}
    if channel == "email":
        fields["subject"] = subject or ""
    problems: list[Problem] = []
    for name, text in fields.items():
        problems += _placeholders(name, text, processes_health_data, overrides)
        if processes_health_data:
            problems += _health_words(name, text, channel, overrides)
    if message_class in PROMOTIONAL:
        problems += _promotional(fields, channel, stop_mention=stop_mention, identities=(sender, org_name))
    if channel == "sms":
        values = sample or sample_values(language, org_name=org_name, sender=sender, stop_mention=stop_mention)
        problems += _sms_size(fill(body, values), transliterate)
    return sorted(problems, key=lambda p: p.severity != ERROR)


def errors_of(problems: Iterable[Problem]) -> list[Problem]:
    return [p for p in problems if p.is_error]


def braced(name: str) -> str:
    return "{" + name + "}"


def _placeholders(field: str, text: str, health: bool, overrides: tuple[str, ...]) -> list[Problem]:
    problems = [p for name in dict.fromkeys(BRACED.findall(text))
                if (p := _placeholder_problem(field, name, health, overrides)) is not None]
    leftover = BRACED.sub(" ", text)
    for brace in dict.fromkeys(ch for ch in leftover if ch in "{}"):
        problems.append(Problem("stray_brace", ERROR, field, brace, _(
            "A lone “%(brace)s” is in the %(field)s: placeholders are written {name}. "
            "Remove it or complete the placeholder.") % {"brace": brace, "field": _field_label(field)}))
    return problems


def _placeholder_problem(field: str, name: str, health: bool, overrides: tuple[str, ...]) -> Problem | None:
    if not KNOWN.match(name) or name not in PLACEHOLDERS:
        known = ", ".join(braced(n) for n in PLACEHOLDERS)
        return Problem("unknown_placeholder", ERROR, field, braced(name), _(
            "Unknown placeholder {%(name)s} in the %(field)s. Use one of: %(known)s.")
            % {"name": name, "field": _field_label(field), "known": known})
    if health and name not in HEALTH_PLACEHOLDERS:
        return Problem("health_placeholder", ERROR, field, braced(name), _(
            "The placeholder {%(name)s} (%(what)s) is not allowed for an organisation that processes health data: "
            "use only the first name or initials, date, time, place, call-back number and links (R-24).")
            % {"name": name, "what": PLACEHOLDERS[name][0]}, "R-24")
    if name in OFF_BY_DEFAULT and not _placeholder_overridden(name, overrides):
        return Problem("item_title", ERROR, field, braced(name), _(
            "The placeholder {%(name)s} puts an item's title in the message: library notices carry no titles by "
            "default, since a title can reveal a person's health, opinions or beliefs (R-24). Use {count} "
            "instead, or ask your DPO to record an override.") % {"name": name}, "R-24")
    return None


def _placeholder_overridden(name: str, overrides: tuple[str, ...]) -> bool:
    return name in overrides or braced(name) in overrides


def _field_label(field: str) -> str:
    return _("subject") if field == "subject" else _("text")


def _health_words(field: str, text: str, channel: str, overrides: tuple[str, ...]) -> list[Problem]:
    problems, seen = [], set()
    for term, written in HEALTH.find(BRACED.sub(" ", text)):
        if term in seen or overridden(term, written, overrides):
            continue
        seen.add(term)
        problems.append(Problem("health_word", ERROR, field, written, _health_message(term, written, channel), "R-24"))
    return problems


def _health_message(term: str, written: str, channel: str) -> str:
    if term in SPECIALTIES:
        what = _("The word « %(word)s » reveals a medical specialty")
    elif term in EXAMS:
        what = _("The word « %(word)s » reveals a medical exam")
    else:
        what = _("The word « %(word)s » reveals a reason for a visit or a diagnosis")
    who = _("an SMS can be read by someone else") if channel == "sms" else _(
        "an e-mail can be read by someone else (notification preview, shared mailbox)")
    advice = _("Remove it, or ask your DPO to record an override with a justification.")
    return _("%(what)s: %(who)s (R-24). %(advice)s") % {"what": what % {"word": written}, "who": who, "advice": advice}


def _promotional(fields: dict[str, str], channel: str, *, stop_mention: str, identities) -> list[Problem]:
    text = " ".join(fields.values())
    used = set(BRACED.findall(text))
    problems = []
    if not (used & {"sender", "org"} or any(_contains(text, who) for who in identities if who.strip())):
        problems.append(Problem("promotional_sender", ERROR, "body", "{sender}", _(
            "A promotional message must say who sends it: add {sender} or {org}, or write the sender's name "
            "(R-25)."), "R-25"))
    if channel == "email":
        if "link" not in used:
            problems.append(Problem("promotional_unsubscribe", ERROR, "body", "{link}", _(
                "A promotional e-mail must carry a free unsubscribe link: add {link} (R-25)."), "R-25"))
    elif not ("stop" in used or (stop_mention.strip() and _contains(text, stop_mention)) or says_stop(text)):
        problems.append(Problem("promotional_stop", ERROR, "body", "{stop}", _(
            "A promotional SMS must carry a free opt-out mention: add {stop} or write it out, e.g. "
            "“STOP au 36111” (R-25).") , "R-25"))
    return problems


def _contains(text: str, phrase: str) -> bool:
    """`phrase` appears as whole words in `text`, whatever the case or accents."""
    needle = [t for t, _s, _e in tokens(phrase)]
    words = [t for t, _s, _e in tokens(BRACED.sub(" ", text))]
    return bool(needle) and any(words[i:i + len(needle)] == needle for i in range(len(words) - len(needle) + 1))


def says_stop(text: str) -> bool:
    return any(token in OPT_OUT_WORDS for token, _s, _e in tokens(BRACED.sub(" ", text)))


def _sms_size(text: str, transliterate: bool) -> list[Problem]:
    """Warnings only (R-26): the editor shows them; the organisation decides."""
    if transliterate:
        text = sms_text.transliterate(text)
    analysis = sms_text.analyse(text)
    problems = []
    if analysis.segments > MAX_SMS_SEGMENTS:
        problems.append(Problem("sms_long", WARNING, "body", str(analysis.segments), _(
            "With sample values this SMS takes %(segments)d parts, each one billed. Shorten it to %(max)d parts "
            "or fewer (R-26).") % {"segments": analysis.segments, "max": MAX_SMS_SEGMENTS}, "R-26"))
    if analysis.ucs2_characters:
        problems.append(_ucs2_problem(text, analysis))
    return problems


def _ucs2_problem(text: str, analysis) -> Problem:
    chars = "".join(analysis.ucs2_characters)
    listed = " ".join(f"“{ch}”" for ch in analysis.ucs2_characters)
    _new, pairs = sms_text.transliteration(text)
    message = _("These characters force the UCS-2 encoding, 70 characters per part instead of 160: %(chars)s.") % {
        "chars": listed}
    if pairs:
        swaps = ", ".join(f"{old} → {new or EMPTY_SET}" for old, new in pairs)
        message += " " + _("Transliteration would replace them: %(pairs)s (R-26).") % {"pairs": swaps}
    else:
        message += " " + _("Replace them if you can (R-26).")
    return Problem("ucs2_characters", WARNING, "body", chars, message, "R-26")
