"""Rendering one message (R-24 allow-listed placeholders, R-26 exact segment count): pure, no database.

The worker renders only the placeholders a template uses: a value nobody reads is not decrypted,
derived or signed (docs/benchmarks.md, dispatch). These tests pin that down, and that the result is
the one every value computed would give."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from relance.lib import sms_text
from relance.messaging import render

ORG = SimpleNamespace(name="Médiathèque", time_zone="Europe/Paris")
SENDING = SimpleNamespace(sms_sender="MEDIA", stop_mention="STOP au 36111", allow_transliteration=True)


class Contact:
    """A contact whose fields count their reads; `last_name` can refuse to be read."""

    def __init__(self, first_name="Aline", last_name="Martin", *, last_name_readable=True):
        self._first, self._last, self._readable = first_name, last_name, last_name_readable
        self.reads: list[str] = []

    @property
    def first_name(self):
        self.reads.append("first_name")
        return self._first

    @property
    def last_name(self):
        self.reads.append("last_name")
        if not self._readable:
            raise AssertionError("last_name was decrypted although the template does not use it")
        return self._last


def message(body: str, *, params=None, contact=None, channel="sms", language="fr", subject=""):
    template = SimpleNamespace(body=body, subject=subject, transliterate=False)
    return SimpleNamespace(contact=contact or Contact(), template=template, channel=channel, language=language,
                           params=json.dumps(params if params is not None else
                                             {"starts_at": "2026-11-26T13:05:00+00:00", "place": "Salle 2"}))


def test_it_renders_only_the_placeholders_the_template_uses_R24():
    links = []
    msg = message("Bonjour {first_name}, {org} vous attend {date} à {time}. {stop}",
                  contact=Contact(last_name_readable=False))
    out = render.render_message(msg, org=ORG, sending=SENDING, link=lambda: links.append(1) or "https://x/p/")
    assert out.text == "Bonjour Aline, Médiathèque vous attend jeudi 26 novembre à 14h05. STOP au 36111"
    assert links == [] and msg.contact.reads == ["first_name"]  # no link signed, no last name decrypted


def test_the_link_and_the_initials_are_computed_when_the_template_uses_them():
    msg = message("{initials} {link}")
    out = render.render_message(msg, org=ORG, sending=SENDING, link=lambda: "https://x/p/s/t/")
    assert out.text == "A.M. https://x/p/s/t/"
    assert render.render_message(msg, org=ORG, sending=SENDING, link="https://y/").text == "A.M. https://y/"


def test_the_values_are_those_of_the_full_computation():
    """The lazy values equal the eager ones for every allow-listed name a template uses."""
    msg = message("x")
    full = render.message_values(msg, org=ORG, sending=SENDING, link="https://x/")
    for name in full:
        assert render.message_values(msg, org=ORG, sending=SENDING, link="https://x/", wanted=[name]) == {name: full[name]}
    assert {"first_name", "last_name", "initials", "org", "sender", "stop", "link", "keyword", "date", "time",
            "place"} <= set(full)


def test_the_event_params_win_over_the_computed_values():
    msg = message("{first_name} {keyword} {place}", params={"first_name": "Lina", "keyword": "OK", "place": "Hall"})
    assert render.render_message(msg, org=ORG, sending=SENDING).text == "Lina OK Hall"


def test_a_missing_value_is_an_error_not_a_hole():
    with pytest.raises(render.RenderError, match="date"):
        render.render_message(message("Le {date}", params={}), org=ORG, sending=SENDING)
    with pytest.raises(render.RenderError, match="unknown"):
        render.render_message(message("{diagnosis}"), org=ORG, sending=SENDING)


def test_the_segment_count_is_the_exact_one_R26():
    long = "Bonjour {first_name}, " + "€" * 80  # 80 extension characters: 160 septets with the rest
    out = render.render_message(message(long), org=ORG, sending=SENDING)
    analysis = sms_text.analyse(out.text)
    assert (out.encoding, out.segments) == ("GSM-7", analysis.segments) and analysis.length_units == 15 + 160
    assert out.segments == 2
    emoji = render.render_message(message("Bonjour {first_name} 🙂"), org=ORG, sending=SENDING)
    assert (emoji.encoding, emoji.segments) == ("UCS-2", 1)


def test_the_placeholders_of_a_template_follow_its_text():
    template = SimpleNamespace(body="{first_name}", subject="")
    assert render.template_placeholders(template) == {"first_name"}
    template.body = "{date} {time}"
    assert render.template_placeholders(template) == {"date", "time"}
