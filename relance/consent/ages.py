"""Age of digital consent per country (GDPR Art. 8(1): 16 by default, member states may lower it to 13).

Source: each member state's implementing law, as compiled by the European Commission and national
supervisory authorities (for France: loi n° 78-17 "Informatique et Libertés", art. 45, as amended in
2018 — 15 years, and below 15 the consent of the minor AND of the holder of parental authority).
Countries not listed fall back to the GDPR default of 16.
"""

from __future__ import annotations

from dataclasses import dataclass

GDPR_DEFAULT_AGE = 16


@dataclass(frozen=True)
class ConsentAge:
    age: int
    joint: bool  # below the age, both the child and the guardian consent (France); else the guardian alone
    source: str


AGES: dict[str, ConsentAge] = {
    "FR": ConsentAge(15, True, "Loi Informatique et Libertés, art. 45 (2018)"),
    "BE": ConsentAge(13, False, "Loi du 30 juillet 2018, art. 7"),
    "DK": ConsentAge(13, False, "Databeskyttelsesloven § 6(2)"),
    "EE": ConsentAge(13, False, "Isikuandmete kaitse seadus § 8"),
    "FI": ConsentAge(13, False, "Tietosuojalaki 5 §"),
    "LV": ConsentAge(13, False, "Fizisko personu datu apstrādes likums, 33. pants"),
    "MT": ConsentAge(13, False, "Data Protection Act (Cap. 586), art. 5"),
    "PT": ConsentAge(13, False, "Lei n.º 58/2019, art. 16"),
    "SE": ConsentAge(13, False, "Dataskyddslag (2018:218) 2 kap. 4 §"),
    "NO": ConsentAge(13, False, "Personopplysningsloven § 5 (EEA)"),
    "AT": ConsentAge(14, False, "Datenschutzgesetz § 4(4)"),
    "BG": ConsentAge(14, False, "Закон за защита на личните данни, чл. 25в"),
    "CY": ConsentAge(14, False, "Law 125(I)/2018, art. 8"),
    "IT": ConsentAge(14, False, "Codice privacy, art. 2-quinquies"),
    "LT": ConsentAge(14, False, "Asmens duomenų teisinės apsaugos įstatymas, 6 str."),
    "ES": ConsentAge(14, False, "Ley Orgánica 3/2018, art. 7"),
    "CZ": ConsentAge(15, False, "Zákon č. 110/2019 Sb., § 7"),
    "GR": ConsentAge(15, False, "Law 4624/2019, art. 21"),
    "SI": ConsentAge(15, False, "ZVOP-2 (2022), art. 8"),
    "DE": ConsentAge(16, False, "GDPR Art. 8(1) default (no national derogation)"),
    "HR": ConsentAge(16, False, "Zakon o provedbi Opće uredbe, čl. 19"),
    "HU": ConsentAge(16, False, "GDPR Art. 8(1) default"),
    "IE": ConsentAge(16, False, "Data Protection Act 2018, s. 31"),
    "LU": ConsentAge(16, False, "GDPR Art. 8(1) default"),
    "NL": ConsentAge(16, False, "Uitvoeringswet AVG, art. 5"),
    "PL": ConsentAge(16, False, "GDPR Art. 8(1) default"),
    "RO": ConsentAge(16, False, "Legea nr. 190/2018 (no derogation)"),
    "SK": ConsentAge(16, False, "Zákon č. 18/2018 Z. z., § 15"),
}


def consent_age(country: str) -> ConsentAge:
    return AGES.get((country or "").upper(), ConsentAge(GDPR_DEFAULT_AGE, False, "GDPR Art. 8(1) default"))
