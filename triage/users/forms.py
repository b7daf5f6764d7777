from django import forms

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
