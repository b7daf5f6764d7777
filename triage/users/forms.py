from django import forms

from triage.users import zones
from triage.users.services import ROLES

ROLE_CHOICES = [(role, f"{role}: {does}") for role, does in ROLES.items()]


class RolesForm(forms.Form):
    roles = forms.MultipleChoiceField(
        choices=ROLE_CHOICES, required=False, widget=forms.CheckboxSelectMultiple
    )


class UserForm(RolesForm):
    username = forms.CharField(max_length=150, label="User name")
    password = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="empty: a random password, shown once after the user is created",
    )

    field_order = ["username", "password", "roles"]


class TimeZoneForm(forms.Form):
    time_zone = forms.ChoiceField(
        label="Time zone",
        help_text="Every time is shown in this zone, with the zone named.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = [(name, name) for name in zones.zone_names()]
