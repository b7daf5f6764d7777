"""The destination editor on Settings → Notifications: one form, its fields chosen by kind.

The form checks what a browser sends (types, lists); whether a destination is
acceptable (addresses, webhook URLs refused for SSRF, secrets) is decided by
triage.notify.services, whose refusals the view shows on the form.
"""

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from triage.notify.models import Destination
from triage.queries import ASN_MAX

# Filters are typed one a line (or comma-separated): none lets every alert through.
LIST_HELP = "one a line or comma-separated; empty: every alert"


# The fields every kind of destination has, named as the services name them.
_COMMON_FIELDS = (
    "name",
    "mode",
    "throttle_minutes",
    "accounts",
    "user_names",
    "as_organizations",
    "as_numbers",
    "report_joined",
)


class KindQuery(forms.Form):
    kind = forms.ChoiceField(choices=Destination.Kind.choices)


class PageQuery(forms.Form):
    page = forms.IntegerField(required=False, min_value=1, max_value=1_000_000)


def _items(text: str) -> list[str]:
    return [item.strip() for line in text.splitlines() for item in line.split(",") if item.strip()]


class ListField(forms.CharField):
    widget = forms.Textarea(attrs={"rows": 2})

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(required=False, help_text=LIST_HELP, max_length=20_000, **kwargs)

    def to_python(self, value: Any) -> list[str]:
        return _items(super().to_python(value))

    def prepare_value(self, value: Any) -> Any:
        return "\n".join(str(item) for item in value) if isinstance(value, list) else value


class DestinationForm(forms.Form):
    name = forms.CharField(max_length=100)
    addresses = forms.CharField(
        label="E-mail addresses", max_length=5000, help_text="comma-separated"
    )
    url = forms.CharField(label="URL", max_length=2000)
    secret = forms.CharField(
        label="Signing secret",
        required=False,
        max_length=200,
        widget=forms.PasswordInput(render_value=False),
        help_text="whsec_…; leave empty and a new one is generated and shown once",
    )
    mode = forms.ChoiceField(choices=Destination.Mode.choices)
    throttle_minutes = forms.IntegerField(
        min_value=0, max_value=10_080, initial=0, help_text="at most one message per N minutes"
    )
    accounts = ListField(label="Accounts")
    user_names = ListField(label="User names")
    as_organizations = ListField(label="AS organisation patterns")
    as_numbers = ListField(label="AS numbers")
    report_joined = forms.BooleanField(
        required=False, label="Report an alert again when an episode event joins it"
    )

    def __init__(self, *args: Any, kind: str, destination: Destination | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind, self.destination = kind, destination
        if kind != Destination.Kind.EMAIL:
            del self.fields["addresses"]
        else:
            del self.fields["url"]
        if kind != Destination.Kind.WEBHOOK:
            del self.fields["secret"]
        if kind == Destination.Kind.APPRISE:
            self.fields["url"].label = "Apprise URL"
            self.fields["url"].help_text = "slack://…, msteams://…, json://host/path"
        if destination is not None:
            # Secrets and token-bearing URLs are never shown back: empty keeps them.
            if kind in (Destination.Kind.APPRISE, Destination.Kind.WEBHOOK):
                self.fields["url"].required = False
                self.fields["url"].help_text = "set; leave empty to keep it, or type a new one"
            if kind == Destination.Kind.WEBHOOK:
                self.fields["secret"].help_text = "set; leave empty to keep it, or type a new one"
                self.fields["new_secret"] = forms.BooleanField(
                    required=False, label="Generate a new secret (shown once)"
                )

    def clean_name(self) -> str:
        # Renaming onto another destination's name would fail at the database, not as a refusal.
        name = self.cleaned_data["name"].strip()
        taken = Destination.objects.filter(name=name)
        if self.destination is not None:
            taken = taken.exclude(pk=self.destination.pk)
        removed = taken.filter(removed_at__isnull=False).exists()
        if taken.exists():
            raise ValidationError(
                f"a destination named {name!r} exists already"
                + (" (removed destinations keep their names)" if removed else "")
            )
        return name

    def clean_as_numbers(self) -> list[int]:
        numbers = []
        for item in self.cleaned_data["as_numbers"]:
            if not item.isdigit() or not 0 < int(item) <= ASN_MAX:
                raise ValidationError(f"not an AS number: {item!r}")
            numbers.append(int(item))
        return numbers

    def settings(self) -> dict[str, Any]:
        """The cleaned form as destination settings; an unchanged secret or URL left out."""
        data = self.cleaned_data
        fields = {name: data[name] for name in _COMMON_FIELDS}
        if self.kind == Destination.Kind.EMAIL:
            fields["target"] = data["addresses"]
        elif data["url"]:
            fields["target"] = data["url"]
        if self.kind == Destination.Kind.WEBHOOK and data["secret"]:
            fields["secret"] = data["secret"]
        return fields


def initial_for(destination: Destination) -> dict[str, Any]:
    initial = {name: getattr(destination, name) for name in _COMMON_FIELDS}
    if destination.kind == Destination.Kind.EMAIL:
        initial["addresses"] = destination.target
    return initial
