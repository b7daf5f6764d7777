"""The alert workflow services: open → acknowledged → closed (with a reason) → reopened.

Every status change leaves an immutable row saying who moved the alert, from
what, to what and why; a change the workflow does not have leaves nothing.
"""

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError

from tests.cloudtrail import principal_invoke, run_detect
from triage.alerts import alert_acknowledge, alert_close, alert_reopen
from triage.models import Alert, AlertStatusChange

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("learning_over")]
T0 = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def alert(ingest) -> Alert:
    ingest(principal_invoke(T0))
    run_detect()
    return Alert.objects.get()


@pytest.fixture
def analyst(django_user_model):
    return django_user_model.objects.create_user("ana")


def status_changes(alert: Alert) -> list[tuple]:
    return list(
        alert.status_changes.values_list(
            "from_status", "to_status", "reason", "comment", "changed_by__username"
        )
    )


def close(*, alert: Alert, by) -> Alert:
    return alert_close(alert=alert, by=by, reason="true_positive")


def test_it_acknowledges_closes_and_reopens_an_alert_recording_each_change(
    alert, analyst, django_user_model
):
    lead = django_user_model.objects.create_user("lee")

    alert_acknowledge(alert=alert, by=analyst)
    alert_close(alert=alert, by=analyst, reason="false_positive", comment="the office VPN")

    alert.refresh_from_db()
    assert (alert.status, alert.close_reason) == ("closed", "false_positive")

    alert_reopen(alert=alert, by=lead, comment="same key used from a VPS since")

    alert.refresh_from_db()
    assert (alert.status, alert.close_reason) == ("open", "")
    assert status_changes(alert) == [
        ("open", "acknowledged", "", "", "ana"),
        ("acknowledged", "closed", "false_positive", "the office VPN", "ana"),
        ("closed", "open", "", "same key used from a VPS since", "lee"),
    ]
    assert all(change.changed_at for change in alert.status_changes.all())


@pytest.mark.parametrize("reason", Alert.CloseReason.values)
def test_it_closes_an_open_alert_with_any_close_reason(alert, analyst, reason):
    alert_close(alert=alert, by=analyst, reason=reason)

    alert.refresh_from_db()
    assert (alert.status, alert.close_reason) == ("closed", reason)
    assert status_changes(alert) == [("open", "closed", reason, "", "ana")]


@pytest.mark.parametrize("reason", ["", "not_sure", "False positive", "FALSE_POSITIVE"])
def test_it_refuses_to_close_without_a_listed_reason(alert, analyst, reason):
    with pytest.raises(ValidationError, match="not a close reason"):
        alert_close(alert=alert, by=analyst, reason=reason)

    alert.refresh_from_db()
    assert alert.status == "open"
    assert not AlertStatusChange.objects.exists()


@pytest.mark.parametrize(
    ("path", "change"),
    [
        ([], alert_reopen),
        ([alert_acknowledge], alert_acknowledge),
        ([close], alert_acknowledge),
        ([close], close),
    ],
    ids=["reopen-open", "acknowledge-acknowledged", "acknowledge-closed", "close-closed"],
)
def test_it_refuses_a_change_the_workflow_does_not_have(
    alert, analyst, path: list[Callable], change: Callable
):
    for step in path:
        step(alert=alert, by=analyst)
    alert.refresh_from_db()
    status, rows = alert.status, status_changes(alert)

    with pytest.raises(ValidationError, match="cannot become"):
        change(alert=alert, by=analyst)

    alert.refresh_from_db()
    assert alert.status == status
    assert status_changes(alert) == rows


def test_it_decides_on_the_stored_status_not_a_stale_copy(alert, analyst):
    stale = Alert.objects.get(pk=alert.pk)
    alert_close(alert=alert, by=analyst, reason="duplicate")

    # Another analyst's page still shows the alert open.
    with pytest.raises(ValidationError, match="closed cannot become closed"):
        alert_close(alert=stale, by=analyst, reason="true_positive")

    alert.refresh_from_db()
    assert alert.close_reason == "duplicate"
