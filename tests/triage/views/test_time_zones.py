"""Time zones: every time names its zone; a user's choice (default UTC) shows times in it, and
the alert list's, the Events page's and the exclusion editor's dates are read in it."""

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.utils import timezone

from tests.triage import ui
from triage.forms import ExclusionForm
from triage.models import Alert
from triage.notify.models import Delivery
from triage.notify.services import message_for
from triage.users import zones
from triage.users.models import TimeZonePreference

pytestmark = pytest.mark.django_db

PREFERENCES = "/account/preferences/"
BERLIN = ZoneInfo("Europe/Berlin")


def choose(client: Client, name: str) -> str:
    response = client.post(PREFERENCES, {"time_zone": name}, follow=True)
    assert response.redirect_chain == [(PREFERENCES, 302)]
    return response.content.decode()


def test_it_names_the_zone_of_a_time_in_its_short_and_full_forms():
    winter = datetime(2026, 11, 28, 10, 13, 5, tzinfo=UTC)
    summer = datetime(2026, 7, 1, 10, 13, tzinfo=UTC)

    assert zones.zoned_text(winter) == "2026-11-28 10:13 UTC"
    assert zones.zoned_text(winter, zone=BERLIN) == "2026-11-28 11:13 CET"
    assert zones.zoned_text(summer, zone=BERLIN) == "2026-07-01 12:13 CEST"
    assert zones.zoned_text(winter, "second", ZoneInfo("America/St_Johns")) == (
        "2026-11-28 06:43:05 NST"
    )
    # A zone without letters for its time says its offset.
    assert zones.zoned_text(winter, zone=ZoneInfo("Europe/Istanbul")) == "2026-11-28 13:13 UTC+03"
    assert zones.full_text(winter, BERLIN) == "2026-11-28 11:13:05 Europe/Berlin (UTC+01:00)"
    assert zones.full_text(winter, ZoneInfo("UTC")) == "2026-11-28 10:13:05 UTC"
    assert zones.offset_text(timedelta(hours=-3, minutes=-30)) == "UTC-03:30"


def test_a_user_without_a_choice_reads_utc_and_is_told_so(story, client):
    page = client.get(f"/alerts/{story.alice.pk}/").content.decode()

    original = story.alice.original_time.astimezone(UTC)
    assert f"{original:%Y-%m-%d %H:%M:%S} UTC</time>" in page
    assert "Times are in UTC" in page
    assert f'href="{PREFERENCES}"' in page
    form = client.get(PREFERENCES).content.decode()
    assert '<option value="UTC" selected>UTC</option>' in form


def test_a_chosen_zone_shows_every_time_in_it_with_the_zone_named(story, people, client):
    saved = choose(client, "Europe/Berlin")
    assert "Times are now shown in Europe/Berlin." in saved
    assert '<option value="Europe/Berlin" selected>' in saved
    assert TimeZonePreference.objects.get(user=people.analyst).time_zone == "Europe/Berlin"

    page = client.get(f"/alerts/{story.alice.pk}/").content.decode()
    local = timezone.localtime(story.alice.original_time, BERLIN)
    short = local.tzname()
    assert f">{local:%Y-%m-%d %H:%M:%S} {short}</time>" in page
    # The machine-readable time stays an ISO instant in UTC.
    assert f'datetime="{story.alice.original_time.astimezone(UTC).isoformat()}"' in page
    assert "Times are in Europe/Berlin" in page
    assert " UTC</time>" not in page
    events = client.get("/events/").content.decode()
    assert "<th>@timestamp (Europe/Berlin)</th>" in events
    assert "Times are in Europe/Berlin." in events
    alerts = client.get("/alerts/").content.decode()
    assert 'for="id_since">From (Europe/Berlin)</label>' in alerts
    assert 'for="id_until">To (Europe/Berlin)</label>' in alerts
    # Another user still reads UTC.
    other = ui.client_for(people.admin).get(f"/alerts/{story.alice.pk}/").content.decode()
    assert "Times are in UTC" in other


def test_the_alert_lists_from_and_to_are_days_in_the_users_zone(story, client):
    # 23:30 UTC on the 27th is half past midnight on the 28th in Berlin.
    Alert.objects.filter(pk=story.alice.pk).update(
        original_time=datetime(2026, 11, 27, 23, 30, tzinfo=UTC)
    )
    url = "/alerts/?status=&since=2026-11-28&until=2026-11-28"
    link = f'href="/alerts/{story.alice.pk}/"'

    assert link not in client.get(url).content.decode()
    choose(client, "Europe/Berlin")
    assert link in client.get(url).content.decode()
    assert link not in client.get("/alerts/?status=&until=2026-11-27").content.decode()


def test_the_events_pages_from_is_read_in_the_users_zone(story, client):
    event = story.alice.event
    # Half an hour after the event, written without an offset.
    since = f"{event.timestamp.astimezone(UTC) + timedelta(minutes=30):%Y-%m-%dT%H:%M}"
    link = f'href="/events/{event.pk}/"'

    assert link not in client.get("/events/", {"since": since}).content.decode()
    choose(client, "Asia/Tokyo")  # nine hours ahead: the same clock time is earlier
    page = client.get("/events/", {"since": since}).content.decode()
    assert link in page
    assert 'for="id_since">From (Asia/Tokyo)</label>' in page
    # An explicit offset is taken as written.
    assert link not in client.get("/events/", {"since": since + "Z"}).content.decode()


def test_an_exclusions_expiry_day_starts_at_midnight_in_the_users_zone(people):
    admin = ui.client_for(people.admin)
    choose(admin, "Europe/Berlin")
    page = admin.get("/exclusions/new/").content.decode()
    assert "Expires on (Europe/Berlin, at the start of the day)" in page

    with timezone.override(BERLIN):
        form = ExclusionForm({"as_number": "64999", "reason": "vpn", "expires_on": "2027-01-10"})
        assert form.is_valid(), form.errors
        expires = form.exclusion_fields()["expires_at"]
    assert expires == datetime(2027, 1, 9, 23, 0, tzinfo=UTC)


def test_the_assignment_email_gives_the_event_time_in_the_recipients_zone(story, people, client):
    people.admin.email = "adam@example.com"
    people.admin.save()
    zones.user_zone_set(user=people.admin, name="Asia/Tokyo")

    response = client.post(f"/alerts/{story.alice.pk}/assign/", {"assignee": people.admin.pk})
    assert response.status_code == 302

    delivery = Delivery.objects.get(event_type=Delivery.EventType.ALERT_ASSIGNED)
    local = timezone.localtime(story.alice.original_time, ZoneInfo("Asia/Tokyo"))
    assert f"Event time: {local:%Y-%m-%d %H:%M:%S} JST" in message_for(delivery).text


def test_the_review_says_its_weeks_are_utc_whatever_the_users_zone(story, client):
    choose(client, "America/New_York")

    page = client.get("/review/").content.decode()

    assert re.search(r"A week runs from Monday 00:00 to Sunday 24:00 UTC for everyone", page)
    assert "other times on this page are in America/New_York" in page
    assert "days in UTC" in page  # the per-day chart's axis


def test_an_unknown_zone_is_refused_and_nothing_is_saved(people, client):
    response = client.post(PREFERENCES, {"time_zone": "Mars/Olympus_Mons"})

    assert response.status_code == 200
    assert "Select a valid choice." in response.content.decode()
    assert not TimeZonePreference.objects.exists()


def test_anyone_signed_in_has_my_settings_and_no_one_else(people):
    for user in (people.analyst, people.admin, people.outsider, people.superuser):
        own = ui.client_for(user)
        assert own.get(PREFERENCES).status_code == 200
        choose(own, "Europe/Berlin")
    assert TimeZonePreference.objects.count() == 4

    anonymous = Client()
    assert anonymous.get(PREFERENCES)["Location"].startswith("/login/")
    assert anonymous.post(PREFERENCES, {"time_zone": "Asia/Tokyo"})["Location"].startswith(
        "/login/"
    )
    assert not TimeZonePreference.objects.filter(time_zone="Asia/Tokyo").exists()


def test_my_settings_answers_only_get_and_post_and_a_get_changes_nothing(people, client):
    assert client.put(PREFERENCES).status_code == 405
    client.get(PREFERENCES, {"time_zone": "Asia/Tokyo"})
    assert not TimeZonePreference.objects.exists()
