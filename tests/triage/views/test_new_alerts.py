"""The alert list keeps up by itself: it polls for alerts that arrived since it was drawn."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.cloudtrail import principal_invoke, run_detect
from tests.triage import ui
from triage.models import Alert

pytestmark = pytest.mark.django_db


def poll_url(page: str) -> str:
    return re.search(r'id="new-alerts"[^>]*hx-get="([^"]+)"', page).group(1).replace("&amp;", "&")


def test_the_notice_counts_alerts_the_list_would_show_that_arrived_since(story, client, ingest):
    page = client.get("/alerts/?org=Evil+VPS+Ltd").content.decode()
    assert "<title>(2 open) Alerts · asnwatch</title>" in page
    poll = poll_url(page)
    assert "newer_than=" in poll and "org=Evil+VPS+Ltd" in poll

    quiet = client.get(poll).content.decode()
    assert "new alert" not in quiet and "<title>(2 open) Alerts" in quiet

    # Two alerts arrive: one the list's filter shows, one it does not.
    now = timezone.now()
    ingest(
        principal_invoke(now - timedelta(minutes=1), user="newcomer", source_ip=ui.EVIL_VPS),
        principal_invoke(now - timedelta(minutes=1), user="visitor", source_ip=ui.OFFICE),
    )
    run_detect()
    assert Alert.objects.count() == 4

    notice = client.get(poll).content.decode()
    assert "1 new alert — show" in notice
    assert "<title>(4 open) Alerts · asnwatch</title>" in notice
    link = re.search(r'href="([^"]+)"', notice).group(1).replace("&amp;", "&")
    assert "org=Evil+VPS+Ltd" in link and "newer_than" not in link


def test_the_poll_refuses_a_bad_position_and_people_without_a_role(story, client, people):
    assert client.get("/alerts/new/?newer_than=soon").status_code == 400
    assert ui.client_for(people.outsider).get("/alerts/new/?newer_than=1").status_code == 403
