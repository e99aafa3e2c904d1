"""The forms of the public pages: few fields, plain labels, nothing pre-ticked (R-10)."""

from django import forms
from django.utils.translation import gettext_lazy as _

PHONE_ATTRS = {"autocomplete": "tel", "inputmode": "tel"}
CODE_ATTRS = {"autocomplete": "one-time-code", "inputmode": "numeric", "pattern": "[0-9]*", "spellcheck": "false"}

RIGHT_KINDS = [
    ("access", _("See the data held about me (access)")),
    ("portability", _("Get my data in a file to take elsewhere (portability)")),
    ("rectification", _("Correct wrong data about me (rectification)")),
    ("erasure", _("Delete my data (erasure)")),
    ("restriction", _("Stop the use of my data for a while (restriction)")),
    ("objection", _("Object to the use of my data (objection)")),
]


class PhoneField(forms.CharField):
    def __init__(self, **kwargs):
        super().__init__(label=_("Your mobile phone number"), max_length=32,
                         help_text=_("We send a code by SMS to this number to check that it is yours."),
                         widget=forms.TextInput(attrs=PHONE_ATTRS), **kwargs)


class ConsentForm(forms.Form):
    phone = PhoneField()
    agree = forms.BooleanField(required=True, label=_("I agree to receive these messages, as the text above says."),
                               error_messages={"required": _("Tick the box to give your consent, or leave this page.")})
    notice = forms.UUIDField(widget=forms.HiddenInput)


class ConsentCodeForm(forms.Form):
    phone = forms.CharField(widget=forms.HiddenInput, max_length=32)
    notice = forms.UUIDField(widget=forms.HiddenInput)
    code = forms.CharField(label=_("The code you received by SMS"), max_length=6, min_length=6,
                           widget=forms.TextInput(attrs=CODE_ATTRS))


class RightsForm(forms.Form):
    kind = forms.ChoiceField(label=_("What do you want?"), choices=RIGHT_KINDS, widget=forms.RadioSelect)
    phone = PhoneField()
    details = forms.CharField(label=_("Anything to add (optional)"), required=False, max_length=2000,
                              widget=forms.Textarea(attrs={"rows": 3}),
                              help_text=_("For a correction, say what is wrong. Do not write health details."))


class RightsCodeForm(forms.Form):
    kind = forms.ChoiceField(choices=RIGHT_KINDS, widget=forms.HiddenInput)
    phone = forms.CharField(widget=forms.HiddenInput, max_length=32)
    details = forms.CharField(required=False, max_length=2000, widget=forms.HiddenInput)
    code = forms.CharField(label=_("The code you received by SMS"), max_length=6, min_length=6,
                           widget=forms.TextInput(attrs=CODE_ATTRS))
