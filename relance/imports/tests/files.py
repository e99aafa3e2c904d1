"""Generated contacts files with a known set of bad lines (the header is line 1, row i is line i + 2)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.utils import timezone

HEADER = ["first_name", "last_name", "phone", "email", "birth_date", "external_ref", "consent_source",
          "consent_date", "consent_ref", "consent_collector", "consent_channel"]
HEADER_FR = ["Prénom", "Nom", "Téléphone portable", "Courriel", "Date de naissance", "Référence",
             "Source du consentement", "Date du consentement", "Référence du formulaire", "Collecteur",
             "Canal du consentement"]

# One defect per bad row, chosen by the first divisor of the row's index that matches.
DEFECTS = [
    (97, "phone", "not_mobile", "invalid"),
    (101, "phone", "not_a_phone", "invalid"),
    (103, "email", "invalid_email", "invalid"),
    (107, "birth_date", "invalid_date", "invalid"),
    (109, "birth_date", "future_date", "invalid"),
    (113, "consent_source", "missing_consent_proof", "quarantined"),
    (127, "phone", "on_stop_list", "suppressed"),
    (131, "external_ref", "duplicate_ref", "invalid"),
]


def mobile(i: int) -> str:
    """A distinct French mobile number per index, written the French way."""
    return f"06 12 {i // 10000 % 100:02d} {i // 100 % 100:02d} {i % 100:02d}"


def e164(i: int) -> str:
    return "+33" + mobile(i).replace(" ", "")[1:]


@dataclass
class Generated:
    data: bytes
    defects: dict[int, tuple[str, str, str]] = field(default_factory=dict)  # line -> (field, code, status)
    suppressed: list[str] = field(default_factory=list)  # E.164 numbers to put on the STOP list first
    rows: int = 0

    @property
    def good_lines(self) -> list[int]:
        return [line for line in range(2, self.rows + 2) if line not in self.defects]


def defect_of(i: int):
    if i == 0:
        return None
    return next(((column, code, status) for every, column, code, status in DEFECTS if i % every == 0), None)


def row_values(i: int, consent_day: str) -> dict[str, str]:
    return {"first_name": f"Prénom{i}", "last_name": f"Nom{i}", "phone": mobile(i), "email": f"contact{i}@example.org",
            "birth_date": f"{1 + i % 28:02d}/{1 + i % 12:02d}/{1950 + i % 50}", "external_ref": f"REF-{i:06d}",
            "consent_source": "Formulaire papier, accueil", "consent_date": consent_day, "consent_ref": "FORM-2026-01",
            "consent_collector": "Médiathèque centrale", "consent_channel": "sms"}


def contacts_file(n: int = 10_000, *, delimiter: str = ",", encoding: str = "utf-8", french: bool = False,
                  defects: bool = True) -> Generated:
    consent_day = (timezone.localdate() - timedelta(days=30)).strftime("%d/%m/%Y")
    out = Generated(b"", rows=n)
    lines = [delimiter.join(HEADER_FR if french else HEADER)]
    for i in range(n):
        values = row_values(i, consent_day)
        defect = defect_of(i) if defects else None
        if defect:
            _spoil(values, i, defect[1], out)
            out.defects[i + 2] = defect
        lines.append(delimiter.join(_quoted(values[name], delimiter) for name in HEADER))
    out.data = ("\r\n".join(lines) + "\r\n").encode(encoding)
    return out


def _spoil(values: dict, i: int, code: str, out: Generated) -> None:
    if code == "not_mobile":
        values["phone"] = "01 42 68 53 00"
    elif code == "not_a_phone":
        values["phone"] = "hello"
    elif code == "invalid_email":
        values["email"] = "jeanne@"
    elif code == "invalid_date":
        values["birth_date"] = "31/02/1990"
    elif code == "future_date":
        values["birth_date"] = "01/01/2999"
    elif code == "missing_consent_proof":
        values["consent_source"] = ""
    elif code == "on_stop_list":
        out.suppressed.append(e164(i))
    elif code == "duplicate_ref":
        values["external_ref"] = f"REF-{i - 1:06d}"


def _quoted(value: str, delimiter: str) -> str:
    return f'"{value}"' if delimiter in value or '"' in value else value


def make_import(org, **options):
    """A dry-run import of a two-row file in `org` (the builder for import_id)."""
    from relance.imports import services
    from relance.testing import SYSTEM

    data = "prénom;téléphone\nJeanne;06 12 34 56 78\nPaul;01 42 68 53 00\n".encode()
    return services.import_contacts(org, data, actor=SYSTEM, dry_run=True, **options)
