"""Forms of the triage pages: the list's filters and the workflow actions.

Sign-in has its own forms, behind the throttle (signin/).
"""

from datetime import date, datetime, time, timedelta

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils import timezone

from triage.grouping import FILTER_NAMES, GROUP_CHOICES, GROUP_KEYS
from triage.models import Alert
from triage.queries import ASN_MAX
from triage.selectors import DEFAULT_SORT, AlertFilters

STATUS_CHOICES = [("", "Any status"), *Alert.Status.choices]
SEVERITY_CHOICES = [
    ("", "Any severity"),
    ("low", "Low"),
    ("medium", "Medium"),
    ("high", "High"),
    ("critical", "Critical"),
]
RANGES = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
RANGE_CHOICES = [
    ("", "Any time"),
    ("1h", "Last hour"),
    ("24h", "Last 24 hours"),
    ("7d", "Last 7 days"),
    ("30d", "Last 30 days"),
]
SORT_CHOICES = [
    ("-created", "Newest detected"),
    ("created", "Oldest detected"),
    ("-time", "Newest event time"),
    ("time", "Oldest event time"),
    ("-events", "Most events"),
]
CLOSE_REASON_CHOICES = [("", "Choose a reason…"), *Alert.CloseReason.choices]
# A filter's dates: the day after the last must still be a date.
FILTER_DATES = [MinValueValidator(date(1970, 1, 1)), MaxValueValidator(date(9998, 12, 31))]


class AlertFilterForm(forms.Form):
    """The list's filters; every field is optional and the status defaults to open."""

    status = forms.ChoiceField(choices=STATUS_CHOICES, required=False)
    severity = forms.ChoiceField(choices=SEVERITY_CHOICES, required=False)
    range = forms.ChoiceField(choices=RANGE_CHOICES, required=False, label="Time")
    since = forms.DateField(
        required=False,
        label="From",
        widget=forms.DateInput({"type": "date"}),
        validators=FILTER_DATES,
    )
    until = forms.DateField(
        required=False,
        label="To",
        widget=forms.DateInput({"type": "date"}),
        validators=FILTER_DATES,
    )
    account = forms.CharField(required=False, max_length=64, label="Account")
    principal = forms.CharField(required=False, max_length=256, label="Principal (user.name)")
    org = forms.CharField(required=False, max_length=256, label="AS organisation")
    asn = forms.IntegerField(required=False, min_value=0, max_value=ASN_MAX, label="AS number")
    assignee = forms.ChoiceField(required=False)
    q = forms.CharField(required=False, max_length=200, label="Search")
    sort = forms.ChoiceField(choices=SORT_CHOICES, required=False)
    group = forms.ChoiceField(choices=GROUP_CHOICES, required=False, label="Group by")

    def __init__(self, data, *, users, **kwargs):
        # A missing status means the default (open); an empty one means any status.
        data = data.copy()
        if "status" not in data:
            data["status"] = Alert.Status.OPEN
        super().__init__(data, **kwargs)
        self.fields["assignee"].choices = [
            ("", "Anyone"),
            ("me", "Me"),
            ("unassigned", "Unassigned"),
            *[(str(user.pk), user.username) for user in users],
        ]

    def filters(self, *, user, now: datetime | None = None) -> AlertFilters:
        """The filters; invalid fields count as unset (the page says which were ignored)."""
        data = self.cleaned_data if self.is_valid() else self._valid_part()
        now = now or timezone.now()
        since = until = None
        if data.get("range") in RANGES:
            since = now - RANGES[data["range"]]
        # From/To are days in the user's zone (the page's labels name it), from its midnight.
        zone = timezone.get_current_timezone()
        if data.get("since"):
            since = max(filter(None, [since, datetime.combine(data["since"], time(), zone)]))
        if data.get("until"):
            until = datetime.combine(data["until"] + timedelta(days=1), time(), zone)
        assignee = data.get("assignee") or ""
        return AlertFilters(
            status=data.get("status", Alert.Status.OPEN) or "",
            severity=data.get("severity") or "",
            since=since,
            until=until,
            account_id=(data.get("account") or "").strip(),
            user_name=(data.get("principal") or "").strip(),
            organization=(data.get("org") or "").strip(),
            as_number=data.get("asn"),
            assignee_id=user.pk
            if assignee == "me"
            else int(assignee)
            if assignee.isdigit()
            else None,
            unassigned=assignee == "unassigned",
            text=(data.get("q") or "").strip(),
            sort=data.get("sort") or DEFAULT_SORT,
        )

    def group_by(self) -> str:
        """What the list is grouped by: principal, network, account, or "" (one row an alert)."""
        data = self.cleaned_data if self.is_valid() else self._valid_part()
        return data.get("group") or ""

    def chosen(self) -> dict[str, str]:
        """The values as submitted, to show the filters as the user set them."""
        return {name: str(self.data.get(name, "")) for name in self.fields}

    def _valid_part(self) -> dict:
        return {name: value for name, value in self.cleaned_data.items() if name not in self.errors}


class AlertIdsField(forms.Field):
    """The ids of the checked alerts (checkboxes sharing one name)."""

    widget = forms.MultipleHiddenInput
    default_error_messages = {"required": "Select at least one alert.", "invalid": "Bad alert id."}

    def to_python(self, value) -> list[int]:
        if not value:
            return []
        # isdigit() alone would let "²" through to int().
        if not all(str(item).isascii() and str(item).isdigit() for item in value):
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        return sorted({int(item) for item in value})

    def validate(self, value) -> None:
        if self.required and not value:
            raise ValidationError(self.error_messages["required"], code="required")


class BulkActionForm(forms.Form):
    action = forms.ChoiceField(
        choices=[("acknowledge", "Acknowledge"), ("assign", "Assign"), ("close", "Close")]
    )
    alerts = AlertIdsField()
    assignee = forms.ChoiceField(required=False)
    reason = forms.ChoiceField(choices=CLOSE_REASON_CHOICES, required=False)
    comment = forms.CharField(required=False, max_length=2000, widget=forms.Textarea)

    def __init__(self, data=None, *, users, **kwargs):
        super().__init__(data, **kwargs)
        self.users = {str(user.pk): user for user in users}
        self.fields["assignee"].choices = [
            ("", "Nobody"),
            *[(pk, user.username) for pk, user in self.users.items()],
        ]

    def clean(self):
        data = super().clean()
        if data.get("action") == "close" and not data.get("reason"):
            raise ValidationError("Closing needs a reason.")
        data["assignee_user"] = self.users.get(data.get("assignee") or "")
        return data


NO_GROUP = "This action names no group: reload the list."


class GroupActionForm(BulkActionForm):
    """A group's "Take action": which group (its key, as the list's filter names), the
    newest alert the page counted for it and how many. The list's filters come with `next`."""

    alerts = None
    by = forms.ChoiceField(choices=GROUP_CHOICES[1:])
    # Keys are matched exactly: attacker-chosen names may begin or end with a space.
    account = forms.CharField(required=False, max_length=64, strip=False)
    principal = forms.CharField(required=False, max_length=256, strip=False)
    org = forms.CharField(required=False, max_length=256, strip=False)
    asn = forms.IntegerField(required=False, min_value=0, max_value=ASN_MAX)
    upto = forms.IntegerField(min_value=1, error_messages={"required": NO_GROUP})
    # How many alerts the page counted in the group: acting on another number asks first.
    shown = forms.IntegerField(min_value=0, error_messages={"required": NO_GROUP})

    def clean(self):
        data = super().clean()
        # Every key column needs a value, but a network may have no AS number.
        columns = GROUP_KEYS.get(data.get("by") or "", ())
        needed = [FILTER_NAMES[column] for column in columns if column != "as_number"]
        if not self.errors and any(data.get(name) in (None, "") for name in needed):
            raise ValidationError(NO_GROUP)
        return data

    def group_key(self) -> dict[str, object]:
        """The group's key columns and values, as triage.grouping reads them."""
        data = self.cleaned_data
        return {column: data[FILTER_NAMES[column]] for column in GROUP_KEYS[data["by"]]}


class AssignForm(forms.Form):
    assignee = forms.ChoiceField(required=False)

    def __init__(self, data=None, *, users, **kwargs):
        super().__init__(data, **kwargs)
        self.users = {str(user.pk): user for user in users}
        self.fields["assignee"].choices = [
            ("", "Nobody"),
            *[(pk, user.username) for pk, user in self.users.items()],
        ]

    def chosen_user(self):
        return self.users.get(self.cleaned_data.get("assignee") or "")


class CloseForm(forms.Form):
    reason = forms.ChoiceField(
        choices=CLOSE_REASON_CHOICES, error_messages={"required": "Choose a reason to close."}
    )
    comment = forms.CharField(required=False, max_length=2000, widget=forms.Textarea({"rows": 2}))


class CommentForm(forms.Form):
    comment = forms.CharField(required=False, max_length=2000, widget=forms.Textarea({"rows": 2}))


class NoteForm(forms.Form):
    text = forms.CharField(
        max_length=10000,
        widget=forms.Textarea({"rows": 3}),
        error_messages={"required": "A note needs text."},
    )


class ChecklistStepForm(forms.Form):
    done = forms.BooleanField(required=False)
    note = forms.CharField(required=False, max_length=4000, widget=forms.Textarea({"rows": 2}))


class ExclusionForm(forms.Form):
    """An exclusion's conditions, reason and expiry.

    The expiry defaults to 90 days ahead; leaving it empty needs the "never
    expires" box ticked, so an exclusion without end is always a choice.
    """

    as_number = forms.IntegerField(
        required=False, min_value=0, max_value=ASN_MAX, label="AS number"
    )
    as_organization = forms.CharField(
        required=False,
        max_length=256,
        label="AS organisation",
        help_text="Case-insensitive; * matches any characters.",
    )
    account_id = forms.CharField(required=False, max_length=32, label="Account (cloud.account.id)")
    user_name = forms.CharField(required=False, max_length=256, label="User name (user.name)")
    # Needed to save, not to preview: the service refuses an exclusion without one.
    reason = forms.CharField(required=False, widget=forms.Textarea({"rows": 3}), max_length=2000)
    expires_on = forms.DateField(
        required=False,
        label="Expires on (UTC, at the start of the day)",
        widget=forms.DateInput({"type": "date"}),
    )
    never_expires = forms.BooleanField(required=False, label="Never expires")
    # What the impact preview showed; saving other conditions previews them first.
    previewed = forms.CharField(required=False, widget=forms.HiddenInput)
    # Offered when the preview shows a share above EXCLUSION_CONFIRM_SHARE_PERCENT.
    confirm_broad = forms.BooleanField(required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        zone = timezone.get_current_timezone_name()
        self.fields["expires_on"].label = f"Expires on ({zone}, at the start of the day)"

    def clean(self):
        data = super().clean()
        conditions = ("as_number", "as_organization", "account_id", "user_name")
        if not self.errors and all(data.get(name) in (None, "") for name in conditions):
            raise ValidationError("Set at least one condition.")
        if data.get("never_expires") and data.get("expires_on"):
            raise ValidationError("Choose an expiry date or tick “Never expires”, not both.")
        if not data.get("never_expires") and not data.get("expires_on") and not self.errors:
            raise ValidationError("Choose an expiry date, or tick “Never expires” to keep it.")
        return data

    def conditions_key(self) -> str:
        data = self.cleaned_data
        return "|".join(
            str(data.get(name) if data.get(name) is not None else "").strip()
            for name in ("as_number", "as_organization", "account_id", "user_name")
        )

    def exclusion_fields(self) -> dict:
        data = self.cleaned_data
        expires_on = data.get("expires_on")
        return {
            "as_number": data.get("as_number"),
            "as_organization": data.get("as_organization") or "",
            "account_id": data.get("account_id") or "",
            "user_name": data.get("user_name") or "",
            "reason": data.get("reason") or "",
            "expires_at": datetime.combine(expires_on, time(), timezone.get_current_timezone())
            if expires_on
            else None,
        }


class ExclusionFromAlertForm(ExclusionForm):
    """Adding an exclusion from an alert: it may also close that alert, or all it matches."""

    alert = forms.IntegerField(widget=forms.HiddenInput)
    close_alert = forms.BooleanField(required=False, label="Close this alert as a false positive")
    close_matching = forms.BooleanField(
        required=False, label="Close every open alert this exclusion matches as a false positive"
    )


class NotificationPreferenceForm(forms.Form):
    assignment_emails = forms.BooleanField(
        required=False, label="E-mail me when someone else assigns me an alert"
    )
