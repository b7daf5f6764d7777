"""The query parameters of the principal, network and new-exclusion pages, as forms.

A value a page cannot use (a NUL byte, a number no column can hold, text
longer than any stored field) is a 400 that names the parameter, never a
database error.
"""

from django import forms

from config.queries import ASN_MAX, BIGINT_MAX
from ingest.ecs import MAX_FIELD_CHARS


def _name() -> forms.CharField:
    # Names are matched as stored: up to a stored field's length, spaces included.
    return forms.CharField(required=False, max_length=MAX_FIELD_CHARS, strip=False)


def _as_number() -> forms.IntegerField:
    return forms.IntegerField(required=False, min_value=0, max_value=ASN_MAX)


class PrincipalQuery(forms.Form):
    account = _name()
    user = _name()


class NetworkQuery(forms.Form):
    org = _name()
    asn = _as_number()


class ExclusionPrefillQuery(forms.Form):
    """The new-exclusion editor's prefill: from an alert, or from the review's links."""

    alert = forms.IntegerField(required=False, min_value=1, max_value=BIGINT_MAX)
    principal = forms.BooleanField(required=False)
    org = _name()
    asn = _as_number()
    account = _name()
    user = _name()
