"""The forms of exclusion requests: proposing (the exclusion editor's fields, from an
alert), approving, declining, and the queue's tab."""

from django import forms

from config.queries import BIGINT_MAX
from triage.forms import ExclusionForm


class ExclusionRequestForm(ExclusionForm):
    """The exclusion editor's conditions, reason and expiry, from one alert.

    The reason is needed to send, not to preview (the service refuses a request
    without one); previewed and confirm_broad are the admin's part and unused here.
    """

    alert = forms.IntegerField(widget=forms.HiddenInput, min_value=1, max_value=BIGINT_MAX)


class ApproveForm(forms.Form):
    # Offered when the preview shows a share above EXCLUSION_CONFIRM_SHARE_PERCENT.
    confirm_broad = forms.BooleanField(required=False)
    close_matching = forms.BooleanField(
        required=False,
        label="Also close every other open alert it matches as a false positive",
    )


class DeclineForm(forms.Form):
    reason = forms.CharField(
        max_length=2000,
        widget=forms.Textarea({"rows": 3}),
        label="Why decline",
        help_text="The requester reads it on the alert.",
        error_messages={"required": "Declining needs a reason the requester will read."},
    )


class RequestListQuery(forms.Form):
    state = forms.ChoiceField(
        required=False, choices=[("", "pending"), ("pending", "pending"), ("decided", "decided")]
    )
