"""The Events page: search by every filter, pivots from each value, one event's page."""

import re
from urllib.parse import urlencode

import pytest

from ingest.models import Event
from tests.triage import ui

pytestmark = pytest.mark.django_db


def rows(page: str) -> list[str]:
    """The event ids a results page links to, in its order."""
    return re.findall(r'href="/events/(\d+)/"', page)


def search(client, **filters) -> str:
    response = client.get("/events/?" + urlencode(filters))
    assert response.status_code == 200, response.content
    return response.content.decode()


def expected(**conditions) -> list[str]:
    return [
        str(pk)
        for pk in Event.objects.filter(**conditions)
        .order_by("-timestamp", "-id")
        .values_list("pk", flat=True)[:50]
    ]


def test_each_filter_finds_exactly_its_events_newest_first(story, client):
    alice = story.alice
    assert rows(search(client, ip=ui.EVIL_VPS)) == expected(source_ip=ui.EVIL_VPS)
    assert rows(search(client, account=alice.account_id, user=alice.user_name)) == expected(
        account_id=alice.account_id, user_name=alice.user_name
    )
    assert rows(search(client, org="evil vps ltd")) == expected(
        as_organization__iexact="Evil VPS Ltd"
    )
    assert rows(search(client, asn=64500)) == expected(as_number=64500)
    assert rows(search(client, action="GetCallerIdentity")) == expected(action="GetCallerIdentity")
    assert rows(search(client, provider="sts.amazonaws.com", outcome="success")) == expected(
        provider="sts.amazonaws.com", outcome="success"
    )
    key = Event.objects.exclude(access_key_id=None).values_list("access_key_id", flat=True)[0]
    assert rows(search(client, key=key)) == expected(access_key_id=key)
    newest = Event.objects.order_by("-timestamp").first().timestamp
    since = newest.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert rows(search(client, since=since)) == expected(
        timestamp__gte=newest.replace(microsecond=0)
    )
    assert rows(search(client, ip="192.0.2.99")) == []
    assert "No events match." in search(client, ip="192.0.2.99")


def test_every_value_on_a_row_pivots_to_its_own_events(story, client):
    page = search(client, ip=ui.EVIL_VPS)

    for link in (
        f'href="/events/?ip={ui.EVIL_VPS}"',
        'href="/events/?asn=64500"',
        'href="/events/?org=Evil+VPS+Ltd"',
        f'href="/events/?account={story.alice.account_id}&amp;user={story.alice.user_name}"',
    ):
        assert link in page


def test_older_pages_keep_the_filters(story, client, monkeypatch):
    monkeypatch.setattr("ingest.views.PAGE_SIZE", 2)
    first = search(client, account=story.alice.account_id, user=story.alice.user_name)
    older = re.search(r'href="\?([^"]+)" rel="next"', first).group(1).replace("&amp;", "&")

    second = client.get("/events/?" + older).content.decode()

    wanted = expected(account_id=story.alice.account_id, user_name=story.alice.user_name)
    assert rows(first) == wanted[:2] and rows(second) == wanted[2:4]
    assert "user=" in older and "before=" in older


def test_an_event_page_shows_its_ecs_fields_and_the_record_escaped(story, client):
    event = story.role.event

    page = client.get(f"/events/{event.pk}/").content.decode()

    assert "source.as.organization.name" in page and ui.ESCAPED_ORG in page
    assert ui.ESCAPED_UA in page
    assert "<details>" in page and "The CloudTrail record as stored" in page
    for raw in ui.RAW_TAGS:
        assert raw not in page
    assert client.get("/events/999999999/").status_code == 404


def test_a_bad_filter_is_refused_naming_it(story, client):
    response = client.get("/events/?since=yesterday&ip=not-an-ip")

    assert response.status_code == 400
    page = response.content.decode()
    assert "<code>since</code>" in page and "<code>ip</code>" in page


def test_only_people_who_triage_see_events(story, people):
    assert ui.client_for(people.outsider).get("/events/").status_code == 403
    event = story.alice.event
    assert ui.client_for(people.outsider).get(f"/events/{event.pk}/").status_code == 403
    assert ui.client_for(None).get(f"/events/{event.pk}/").status_code == 302
    assert ui.client_for(people.admin).get(f"/events/{event.pk}/").status_code == 200


def test_the_alert_page_links_its_network_address_and_key_to_their_events(story, client):
    page = client.get(f"/alerts/{story.alice.pk}/").content.decode()

    event = story.alice.event
    assert f'href="/events/?ip={ui.EVIL_VPS}" title="Its events"' in page
    assert 'href="/events/?org=Evil+VPS+Ltd" title="Its events"' in page
    assert f'href="/events/?account={event.account_id}" title="Its events"' in page
    if event.access_key_id:
        assert f'href="/events/?key={event.access_key_id}" title="Its events"' in page


def test_the_correlation_table_shows_a_repeated_user_agent_once(story, client):
    page = client.get(f"/alerts/{story.alice.pk}/").content.decode()
    activity = page[page.index("events from Evil VPS Ltd") :]
    table = activity[: activity.index("</table>")]

    agents = re.findall(r'<td class="mono ua"[^>]*>(.*?)</td>', table)
    assert len(agents) >= 3
    assert agents[0] and "same as above" not in agents[0]
    assert all(agent == '<span class="subtle">same as above</span>' for agent in agents[1:])


def test_a_hostile_user_agent_is_escaped_in_its_title_too(story, client):
    page = client.get(f"/alerts/{story.role.pk}/").content.decode()

    assert f'title="{ui.ESCAPED_UA}"' in page
    for raw in ui.RAW_TAGS:
        assert raw not in page
