"""Phone numbers to E.164 with the organisation's country as default region."""

from __future__ import annotations

import phonenumbers
from django.utils.translation import gettext as _

SMS_CAPABLE = {
    phonenumbers.PhoneNumberType.MOBILE,
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
}


class PhoneError(ValueError):
    pass


def to_e164(raw: str, default_region: str = "FR", *, sms: bool = False) -> str:
    try:
        number = phonenumbers.parse(raw, default_region.upper())
    except phonenumbers.NumberParseException:
        raise PhoneError(_("This is not a phone number."))
    if not phonenumbers.is_valid_number(number):
        raise PhoneError(_("This phone number is not valid for its country."))
    if sms and phonenumbers.number_type(number) not in SMS_CAPABLE:
        raise PhoneError(_("This number cannot receive text messages (it is not a mobile number)."))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
