"""The phone parser never fails badly: any text is a valid E.164 number or a ValidationError."""

import re

import phonenumbers
from django.core.exceptions import ValidationError
from hypothesis import example, given, settings
from hypothesis import strategies as st

from relance.accounts.models import Organisation
from relance.contacts.validation import clean_phone

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
phone_like = st.text(alphabet="0123456789 +-.()/", max_size=30)
anything = st.one_of(st.text(max_size=80), phone_like, st.integers(), st.none(), st.binary(max_size=20))


@settings(max_examples=600, deadline=None)
@given(raw=anything, country=st.sampled_from(["FR", "BE", "CH", "LU", "DE", "XX", "GB"]))
@example(raw="+" + "9" * 300, country="FR")
@example(raw="\x00", country="FR")
@example(raw="06 12 34 56 78", country="FR")
def test_it_yields_e164_or_a_validation_error(raw, country):
    org = Organisation(country=country)
    try:
        result = clean_phone(org, raw)
    except ValidationError as exc:
        assert exc.messages and all(message for message in exc.messages)
        return
    if result is None:
        assert raw is None or (isinstance(raw, str) and not raw.strip())
        return
    assert E164.match(result)
    number = phonenumbers.parse(result)
    assert phonenumbers.is_valid_number(number)
    assert clean_phone(org, result) == result  # stable: parsing the result again gives it back
