"""What every page's query forms share: integer bounds, and the 400 page for a form
that is not valid, naming each parameter and what is wrong with it."""

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

# Ids are PostgreSQL bigints; anything larger can name no row.
BIGINT_MAX = 2**63 - 1
# AS numbers are 32-bit (RFC 6793).
ASN_MAX = 2**32 - 1


def invalid_query(request: HttpRequest, form: forms.Form) -> HttpResponse:
    problems = [
        ("" if name == NON_FIELD_ERRORS else name, list(errors))
        for name, errors in form.errors.items()
    ]
    return render(request, "400.html", {"problems": problems}, status=400)
