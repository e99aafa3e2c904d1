"""`relance import contacts FILE --org SLUG ...`: progress, every bad line, summary, exit status, report
file, French and English (SPEC §4 "long work shows progress", R-15, R-31, R-61)."""

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from relance.consent.models import ConsentEvent, Information
from relance.consent.tests.helpers import make_consent_purpose, make_purpose
from relance.contacts import services as contacts
from relance.contacts.models import Contact
from relance.imports.models import ImportBatch
from relance.testing import SYSTEM, make_org

from .files import contacts_file

pytestmark = pytest.mark.django_db(databases=["default", "keys"])


def _import(*args, language="en") -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import", "contacts", *args, "--language", language, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def _file(tmp_path, data: bytes, name="contacts.csv") -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def test_it_prints_progress_every_bad_line_and_a_summary(tmp_path):
    """SPEC §4: progress on one line (\\r), then 'line N: column: reason' for each bad line, no values."""
    org = make_org()
    purpose = make_consent_purpose(org)
    generated = contacts_file(1_200)
    for number in generated.suppressed:
        contacts.suppress_number(org, number, actor=SYSTEM, reason="stop")
    out, _err = _import(_file(tmp_path, generated.data), "--org", org.slug, "--purpose", purpose.code,
                        "--mode", "good")
    assert "\rchecked 500/1200" in out and "\rchecked 1200/1200" in out and "\rimported 500/" in out
    printed = [line for line in out.splitlines() if line.startswith("line ")]
    assert len(printed) == len(generated.defects)
    assert "line 99: phone: This number cannot receive text messages (it is not a mobile number)." in printed
    assert "line 105: email: This is not a valid e-mail address." in printed
    assert any(line.startswith("line 115: consent_source: The proof of consent is incomplete") for line in printed)
    assert "01 42 68 53 00" not in out and "jeanne@" not in out and "hello" not in out
    good = 1_200 - len(generated.defects)
    assert f"1200 rows: {good} good," in out and f"{good} created, 0 updated" in out
    assert Contact.objects.for_org(org).count() == good == ConsentEvent.objects.for_org(org).count()


def test_it_exits_non_zero_when_nothing_was_imported_because_of_errors(tmp_path):
    org = make_org()
    path = _file(tmp_path, b"phone\n06 12 34 56 78\n01 42 68 53 00\n")
    with pytest.raises(CommandError) as caught:
        _import(path, "--org", org.slug)
    assert caught.value.returncode == 1 and "Nothing was imported" in str(caught.value)
    assert Contact.objects.for_org(org).count() == 0
    assert ImportBatch.objects.for_org(org).get().status == "failed"


def test_it_imports_nothing_on_a_dry_run_and_writes_the_report_file(tmp_path):
    org = make_org()
    report = tmp_path / "report.json"
    path = _file(tmp_path, b"phone;couleur\n06 12 34 56 78;bleu\n01 42 68 53 00;vert\n")
    with pytest.raises(CommandError):
        _import(path, "--org", org.slug, "--dry-run", "--report", str(report))
    body = json.loads(report.read_text())
    assert (body["status"], body["rows"], body["valid"], body["invalid"]) == ("validated", 2, 1, 1)
    assert [(p["line"], p["code"]) for p in body["problems"]] == [(3, "not_mobile")]
    assert [(w["column"], w["code"]) for w in body["warnings"]] == [("couleur", "unknown_column")]
    assert Contact.objects.for_org(org).count() == 0
    out, _err = _import(path, "--org", org.slug, "--dry-run", "--mode", "good")  # good rows would be imported: exit 0
    assert "Dry run: nothing was written" in out and "line 1: couleur: Unknown column" in out


def test_it_follows_the_mapping_and_informs_the_batch(tmp_path):
    """R-04: --source with a purpose on another basis than consent records the batch's information."""
    org = make_org()
    purpose = make_purpose(org)
    path = _file(tmp_path, "Numéro;Nom complet\n06 12 34 56 78;Anne\n".encode())
    out, _err = _import(path, "--org", org.slug, "--purpose", purpose.code, "--map", "Numéro=phone",
                        "--map", "Nom complet=last_name", "--source", "Fichier des adhérents")
    assert "1 created" in out
    assert Contact.objects.for_org(org).get().last_name == "Anne"
    assert Information.objects.for_org(org).get().source == "Fichier des adhérents"


def test_it_speaks_french(tmp_path):
    org = make_org()
    path = _file(tmp_path, "téléphone\n06 12 34 56 78\n01 42 68 53 00\n".encode("cp1252"))
    out, _err = _import(path, "--org", org.slug, "--mode", "good", language="fr")
    assert "ligne 3 : téléphone : Ce numéro ne peut pas recevoir de SMS" in out
    assert "2 lignes : 1 correcte(s), 1 invalide(s)" in out and "1 créé" in out


@pytest.mark.parametrize(("args", "message"), [
    (["--org", "nowhere"], "No organisation"),
    (["--org", "{org}", "--purpose", "nothing"], "No purpose"),
    (["--org", "{org}", "--map", "nothing"], "Column=field"),
])
def test_it_refuses_unknown_organisations_purposes_and_malformed_maps(tmp_path, args, message):
    org = make_org()
    path = _file(tmp_path, b"phone\n06 12 34 56 78\n")
    with pytest.raises(CommandError) as caught:
        _import(path, *[a.format(org=org.slug) for a in args])
    assert message in str(caught.value)


def test_it_refuses_a_file_that_cannot_be_read(tmp_path, settings):
    org = make_org()
    with pytest.raises(CommandError) as caught:
        _import(_file(tmp_path, b"," * 100_000 + b"\n"), "--org", org.slug)
    assert "longer than" in str(caught.value)
    with pytest.raises(CommandError) as caught:
        _import(str(tmp_path / "missing.csv"), "--org", org.slug)
    assert "Cannot read the file" in str(caught.value)
    settings.RELANCE_IMPORT_MAX_BYTES = 10
    with pytest.raises(CommandError) as caught:
        _import(_file(tmp_path, b"phone\n06 12 34 56 78\n"), "--org", org.slug)
    assert "larger than" in str(caught.value)
