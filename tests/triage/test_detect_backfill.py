"""manage.py detect --backfill: alerts raised from old logs are dated when the 5-minute
schedule would have raised them, so the weekly review counts them in their week."""

from datetime import UTC, datetime, time, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from tests.cloudtrail import principal_invoke
from tests.triage.conftest import EVIL_VPS, OFFICE
from triage.models import Alert
from triage.review.selectors import current_week, weekly_review

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("learning_over")]


def detect(*args: str) -> str:
    out = StringIO()
    call_command("detect", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def last_week():
    return current_week() - timedelta(days=7)


@pytest.fixture
def when(last_week, settings) -> datetime:
    """An attack last Wednesday; the office invokes of the days before were learned."""
    moment = datetime.combine(last_week + timedelta(days=2), time(10, 30), UTC)
    settings.DETECTION_BASELINE_START = moment - timedelta(days=11)  # learning 10 days
    return moment


def attack(ingest, user: str, when: datetime) -> None:
    ingest(
        principal_invoke(when - timedelta(days=3), user=user, source_ip=OFFICE),
        principal_invoke(when, user=user, source_ip=EVIL_VPS, event_id=f"{user}-attack"),
    )


def test_it_dates_the_runs_alerts_as_scheduled_and_the_review_counts_them(ingest, last_week, when):
    attack(ingest, "alice", when)

    out = detect("--backfill")

    assert out.splitlines()[-1] == "detect: 1 alerts dated as scheduled"
    alert = Alert.objects.get(event__event_id="alice-attack")
    assert alert.created_at == when + timedelta(minutes=15)
    assert [a.pk for a in weekly_review(week_start=last_week).alerts] == [alert.pk]


def test_without_it_alerts_are_created_now_and_last_weeks_review_is_empty(ingest, last_week, when):
    attack(ingest, "alice", when)

    detect()

    assert Alert.objects.get().created_at > timezone.now() - timedelta(minutes=1)
    assert weekly_review(week_start=last_week).alerts == []


def test_it_leaves_earlier_runs_alerts_and_recent_ones_alone(ingest, last_week, when):
    attack(ingest, "alice", when)
    detect()
    earlier = Alert.objects.get().created_at
    ingest(
        principal_invoke(timezone.now() - timedelta(minutes=5), user="bob", event_id="bob-attack")
    )

    assert detect("--backfill").splitlines()[-1] == "detect: 0 alerts dated as scheduled"
    assert Alert.objects.get(event__event_id="alice-attack").created_at == earlier
    bob = Alert.objects.get(event__event_id="bob-attack")
    assert bob.created_at > timezone.now() - timedelta(minutes=1)
