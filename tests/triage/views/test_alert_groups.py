"""/alerts/?group=…: the list grouped by principal, network or account, and each group's
"Take action" (/alerts/groups/action/) on exactly the alerts the group showed."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.triage import ui
from triage import grouping
from triage.models import Alert, AlertStatusChange, SavedView

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true", "HX-Target": "alert-results"}


def text(response) -> str:
    return response.content.decode()


def group_keys(response) -> list[str]:
    """The groups' headings, as text, in order."""
    headings = re.findall(r'<h3 class="group-key">(.*?)</h3>', text(response), re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", heading).split()) for heading in headings]


def more_alerts(count: int, *, user_name: str = "carol", organization: str = "Evil VPS Ltd",
                status: str = "open", label: str = "", **columns) -> list[Alert]:  # fmt: skip
    """A principal's alerts, a minute older each, straight into the tables."""
    label = label or f"group-{user_name}-{organization}-{status}"
    return ui.stored_alerts(count, label=label, user_name=user_name, organization=organization,
                            status=status, minutes_ago=1, **columns)  # fmt: skip


def group_html(response, key: str) -> str:
    """The HTML of the group whose heading starts with key."""
    for part in text(response).split('<li class="alert-group">')[1:]:
        heading = re.search(r'<h3 class="group-key">(.*?)</h3>', part, re.S).group(1)
        if " ".join(re.sub(r"<[^>]+>", " ", heading).split()).startswith(key):
            return part
    raise AssertionError(f"no group {key!r}")


def action_form(response, key: str) -> dict[str, str]:
    """The hidden fields of a group's "Take action" form, as the page drew them."""
    form = group_html(response, key).split('<form class="group-action"')[1].split("</form>")[0]
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form))


def statuses(alerts) -> list[str]:
    return [Alert.objects.get(pk=alert.pk).status for alert in alerts]


def test_it_groups_open_alerts_by_principal_the_newest_group_first(story, client):
    carol = more_alerts(3)

    response = client.get("/alerts/?group=principal")

    assert response.status_code == 200
    assert group_keys(response) == [
        "carol 444455556666",
        "billing-fn-role 111122223333",
        "alice 111122223333",
    ]
    assert 'name="alerts"' not in text(response)  # groups instead of the table of alerts
    facts = group_html(response, "carol")
    assert re.search(r"<dt>Alerts</dt><dd><a [^>]*>3</a>", facts)
    assert f"#{carol[0].pk}" in facts  # its first alerts, inside the group


@pytest.mark.parametrize(
    "by, expected",
    [
        ("network", ["Evil VPS Ltd AS64500", f"{ui.ESCAPED_ORG} AS64666"]),
        ("account", ["account 444455556666", "account 111122223333"]),
    ],
)
def test_it_groups_by_network_or_account(story, client, by, expected):
    more_alerts(2, user_name="dave")

    response = client.get(f"/alerts/?group={by}")

    assert group_keys(response) == expected


def test_it_counts_open_alerts_and_names_severity_newest_event_and_assignees(story, people, client):
    carol = more_alerts(4)
    Alert.objects.filter(pk__in=[carol[0].pk, carol[1].pk]).update(assignee=people.analyst)
    Alert.objects.filter(pk=carol[2].pk).update(assignee=people.admin, status="acknowledged")

    response = client.get("/alerts/?status=&group=principal")

    facts = group_html(response, "carol")
    assert re.search(r"<dt>Alerts</dt><dd><a [^>]*>4</a>", facts)
    assert "<dt>Open</dt><dd>3</dd>" in facts  # the All tab says how many are still open
    assert '<span class="sev sev-medium">medium</span>' in facts
    newest = max(alert.original_time for alert in carol)
    assert newest.strftime("%Y-%m-%d %H:%M") + " UTC</time>" in facts
    assert "<dt>Assignees</dt><dd>adam, ana; 1 unassigned</dd>" in facts
    assert "<dt>Open</dt>" not in text(client.get("/alerts/?group=principal"))


def test_it_groups_within_the_filters_and_the_status_tab(story, client):
    more_alerts(2)
    Alert.objects.filter(pk=story.role.pk).update(status="acknowledged")

    assert group_keys(client.get("/alerts/?group=principal")) == [
        "carol 444455556666",
        "alice 111122223333",
    ]
    assert group_keys(client.get("/alerts/?group=principal&status=acknowledged")) == [
        "billing-fn-role 111122223333"
    ]
    assert group_keys(client.get("/alerts/?group=account&account=111122223333")) == [
        "account 111122223333"
    ]
    empty = client.get("/alerts/?group=network&status=closed")
    assert group_keys(empty) == []
    assert "No closed alerts match these filters." in text(empty)


def test_it_shows_hostile_keys_as_text_and_encodes_them_in_links(story, client):
    response = client.get("/alerts/?group=network")

    page = text(response)
    ui.assert_inert(page, ui.ESCAPED_ORG)
    hostile = group_html(response, ui.ESCAPED_ORG)
    encoded = "%3Cscript%3Ealert%28%22org%22%29%3C%2Fscript%3E+Hosting"
    assert f'href="/networks/?org={encoded}"' in hostile
    assert f"org={encoded}&amp;asn=64666" in hostile  # the link to all of its alerts
    assert f'name="org" value="{ui.ESCAPED_ORG}"' in hostile  # its action's key


def test_it_shows_a_groups_first_alerts_and_links_to_all_of_them(story, client):
    carol = more_alerts(7)

    response = client.get("/alerts/?group=principal&sort=-created")

    group = group_html(response, "carol")
    shown = [int(pk) for pk in re.findall(r'href="/alerts/(\d+)/"', group)]
    assert shown == sorted((alert.pk for alert in carol), reverse=True)[: grouping.GROUP_PREVIEW]
    link = re.search(r'href="([^"]+)">All 7 alerts of this group</a>', group).group(1)
    # The list's filters without the grouping, and the group's own.
    expected = "/alerts/?sort=-created&amp;account=444455556666&amp;principal=carol"
    assert link == expected
    all_of_them = client.get(link.replace("&amp;", "&"))
    listed = set(map(int, re.findall(r'name="alerts" value="(\d+)"', text(all_of_them))))
    assert listed == {alert.pk for alert in carol}


def test_it_links_a_network_group_to_its_alerts_by_organisation_and_as_number(story, client):
    more_alerts(2, user_name="erin", as_number=64999)  # Evil VPS Ltd under another AS number

    response = client.get("/alerts/?group=network")

    keys = group_keys(response)
    assert keys[0] == "Evil VPS Ltd AS64999" and "Evil VPS Ltd AS64500" in keys
    link = re.search(
        r'<dt>Alerts</dt><dd><a href="([^"]+)">2</a>', group_html(response, "Evil VPS Ltd AS64999")
    )
    listed = client.get(link.group(1).replace("&amp;", "&"))
    assert len(re.findall(r'name="alerts" value="(\d+)"', text(listed))) == 2


def test_it_pages_through_groups_without_gaps_or_repeats(story, client):
    for index in range(45):
        more_alerts(1, user_name=f"user-{index:02d}")

    seen, url, pages = [], "/alerts/?group=principal", 0
    while url:
        response = client.get(url)
        seen += group_keys(response)
        pages += 1
        match = re.search(r'href="([^"]*after=[^"]*)" [^>]*rel="next"', text(response))
        url = match.group(1).replace("&amp;", "&") if match else None

    assert pages == 3
    assert len(seen) == len(set(seen)) == 47
    assert seen[0] == "user-44 444455556666" and seen[-1] == "alice 111122223333"


def test_it_makes_the_same_queries_however_many_alerts_and_groups_there_are(story, client):
    def queries(url: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    client.get("/alerts/")  # the session's first visit is written once
    few = queries("/alerts/?status=&group=principal")
    more_alerts(150, user_name="alice", account_id="111122223333")

    # The list's own (counts, saved views, the notice's newest id) and the groups' four:
    # the cap's edge, one GROUP BY, the groups' first alerts and their assignees.
    assert queries("/alerts/?status=&group=principal") == few <= 16
    for index in range(30):  # more groups than a page holds cost no more queries
        more_alerts(1, user_name=f"user-{index:02d}")
    assert queries("/alerts/?status=&group=principal") == few


def test_it_groups_only_the_newest_alerts_past_a_cap_and_says_so(story, client, monkeypatch):
    monkeypatch.setattr(grouping, "GROUP_SCAN_CAP", 3)
    carol = more_alerts(5)

    response = client.get("/alerts/?group=principal")

    assert group_keys(response) == ["carol 444455556666"]  # alice's and the role's are older
    assert re.search(r"<dt>Alerts</dt><dd><a [^>]*>3</a>", group_html(response, "carol"))
    assert "The groups cover the newest 3 alerts these filters match" in text(response)
    assert "The groups cover" not in text(client.get("/alerts/?group=principal&principal=alice"))

    # Acting on the group reaches its older alerts too, after saying how many.
    asked = act(client, action_form(response, "carol"), action="acknowledge")
    assert "The page counted 3 in this group; 5 match the filters now." in text(asked)
    assert statuses(carol) == ["open"] * 5


def test_it_answers_htmx_with_the_grouped_results_only(story, client):
    response = ui.htmx(client, "get", "/alerts/?group=account", target="alert-results")

    page = text(response)
    assert page.lstrip().startswith('<div id="alert-results"')
    assert "<html" not in page
    assert group_keys(response) == ["account 111122223333"]


def test_a_saved_view_keeps_the_grouping(story, people, client):
    client.post("/alerts/views/", {"name": "By network", "query": "status=open&group=network"})

    view = SavedView.objects.get(user=people.analyst, name="By network")
    assert "group=network" in view.query
    response = client.get(f"/alerts/?view={view.pk}&{view.query}")
    assert group_keys(response) == [f"{ui.ESCAPED_ORG} AS64666", "Evil VPS Ltd AS64500"]
    assert '<option value="network" selected>Network</option>' in text(response)


def test_it_ignores_an_unknown_grouping(story, client):
    response = client.get("/alerts/?group=everything")

    assert response.status_code == 200
    assert group_keys(response) == []
    assert len(re.findall(r'name="alerts" value="(\d+)"', text(response))) == 2
    assert "Some filters were not understood and are ignored: group." in text(response)


# ---------------------------------------------------------------- Take action


def act(client, form: dict, headers: dict | None = None, **changes):
    return client.post("/alerts/groups/action/", {**form, **changes}, headers=headers or {})


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["form", "htmx"])
def test_it_acknowledges_every_alert_of_the_group_and_no_other(story, client, headers):
    carol = more_alerts(3)
    listed = client.get("/alerts/?group=principal")
    form = action_form(listed, "carol")

    response = act(client, form, headers, action="acknowledge")

    assert statuses(carol) == ["acknowledged"] * 3
    assert statuses([story.alice, story.role]) == ["open", "open"]
    assert AlertStatusChange.objects.filter(to_status="acknowledged").count() == 3
    done = "carol (444455556666): 3 acknowledged."
    if headers:
        assert done in text(response)
        assert group_keys(response) == ["billing-fn-role 111122223333", "alice 111122223333"]
    else:
        assert response.status_code == 302
        assert response["Location"] == "/alerts/?group=principal"
        assert done in text(client.get(response["Location"]))


def test_it_assigns_every_alert_of_the_group(story, people, client):
    carol = more_alerts(2)
    form = action_form(client.get("/alerts/?group=principal"), "carol")

    act(client, form, action="assign", assignee=str(people.admin.pk))

    assert {Alert.objects.get(pk=alert.pk).assignee for alert in carol} == {people.admin}
    assert Alert.objects.get(pk=story.alice.pk).assignee is None


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["form", "htmx"])
def test_it_asks_with_the_count_before_closing_a_group(story, client, headers):
    carol = more_alerts(3)
    form = action_form(client.get("/alerts/?group=principal"), "carol")
    chosen = {"action": "close", "reason": "false_positive", "comment": "pen test"}

    asked = act(client, form, headers, **chosen)

    assert asked.status_code == 200
    assert "Close 3 alerts of carol (444455556666) as false positive?" in text(asked)
    assert statuses(carol) == ["open"] * 3
    token = re.search(r'name="confirm" value="([^"]+)"', text(asked)).group(1)
    confirmation = text(asked).split('class="bulk-confirm"')[1].split("</form>")[0]
    sent_back = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', confirmation))
    assert sent_back["comment"] == "pen test" and sent_back["upto"] == form["upto"]

    act(client, form, headers, **chosen, confirm=token)

    assert statuses(carol) == ["closed"] * 3
    assert statuses([story.alice, story.role]) == ["open", "open"]
    assert set(
        AlertStatusChange.objects.filter(to_status="closed").values_list("reason", "comment")
    ) == {("false_positive", "pen test")}


def test_it_leaves_alerts_that_arrived_after_the_page_was_drawn(story, client):
    carol = more_alerts(2)
    form = action_form(client.get("/alerts/?group=principal"), "carol")
    later = more_alerts(1, label="later")  # arrives while the analyst reads the page

    act(client, form, action="acknowledge")

    assert statuses(carol) == ["acknowledged"] * 2
    assert statuses(later) == ["open"]


def test_it_asks_again_when_the_group_changed_since_the_confirmation(story, client):
    carol = more_alerts(3)
    form = action_form(client.get("/alerts/?group=principal"), "carol")
    chosen = {"action": "close", "reason": "duplicate"}
    token = re.search(r'name="confirm" value="([^"]+)"', text(act(client, form, **chosen))).group(1)
    # Someone else acknowledges one of them: it leaves the open alerts this group shows.
    Alert.objects.filter(pk=carol[0].pk).update(status="acknowledged")

    again = act(client, form, **chosen, confirm=token)

    assert "The page counted 3 in this group; 2 match the filters now. Close 2 alerts" in text(
        again
    )
    assert statuses(carol) == ["acknowledged", "open", "open"]


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["form", "htmx"])
def test_it_asks_before_acting_on_more_alerts_than_the_page_showed(story, client, headers):
    earlier = more_alerts(1, status="closed")
    carol = more_alerts(2, label="open")
    form = action_form(client.get("/alerts/?group=principal"), "carol")
    assert form["shown"] == "2"
    # Someone reopens carol's closed alert while the analyst reads the page.
    Alert.objects.filter(pk=earlier[0].pk).update(status="open")

    asked = act(client, form, headers, action="acknowledge")

    assert (
        "The page counted 2 in this group; 3 match the filters now. "
        "Acknowledge 3 alerts of carol (444455556666)?"
    ) in text(asked)
    assert statuses(earlier + carol) == ["open"] * 3
    token = re.search(r'name="confirm" value="([^"]+)"', text(asked)).group(1)

    act(client, form, headers, action="acknowledge", confirm=token)

    assert statuses(earlier + carol) == ["acknowledged"] * 3


def test_a_confirmation_holds_only_for_the_action_it_asked_about(story, people, client):
    carol = more_alerts(3)
    form = action_form(client.get("/alerts/?group=principal"), "carol")
    asked = act(client, form, action="close", reason="duplicate")
    token = re.search(r'name="confirm" value="([^"]+)"', text(asked)).group(1)

    again = act(client, form, action="close", reason="true_positive", confirm=token)

    assert "Close 3 alerts of carol (444455556666) as true positive?" in text(again)
    assert statuses(carol) == ["open"] * 3


def test_it_acts_only_within_the_lists_filters(story, client):
    carol = more_alerts(2)
    form = action_form(client.get("/alerts/?group=principal"), "carol")

    # The same group, sent from a list that shows only alice's alerts.
    response = act(
        client, form, HTMX, action="acknowledge", next="/alerts/?principal=alice&group=principal"
    )

    assert "carol (444455556666): no alert of this group matches the filters any more." in text(
        response
    )
    assert statuses(carol) == ["open", "open"]


def test_it_refuses_a_group_larger_than_the_limit(story, client, monkeypatch):
    monkeypatch.setattr(grouping, "GROUP_ACTION_LIMIT", 2)
    carol = more_alerts(3)
    form = action_form(client.get("/alerts/?group=principal"), "carol")

    response = act(client, form, action="acknowledge")

    assert "a group action changes at most 2 alerts; narrow the filters" in text(response)
    assert statuses(carol) == ["open"] * 3


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"action": "close"}, "Closing needs a reason."),
        (
            {"action": "acknowledge", "principal": ""},
            "This action names no group: reload the list.",
        ),
        ({"action": "acknowledge", "upto": ""}, "This action names no group: reload the list."),
        ({"action": "acknowledge", "shown": ""}, "This action names no group: reload the list."),
        ({"action": "delete"}, "Select a valid choice."),
    ],
)
def test_it_refuses_an_action_it_cannot_do(story, client, changes, message):
    carol = more_alerts(2)
    form = action_form(client.get("/alerts/?group=principal"), "carol")

    response = act(client, form, **changes)

    assert response.status_code == 200
    assert message in text(response)
    assert statuses(carol) == ["open", "open"]
    assert group_keys(response)[0] == "carol 444455556666"  # the grouped list, as it was


def test_it_acts_on_a_network_group_with_a_hostile_name(story, client):
    form = action_form(client.get("/alerts/?group=network"), ui.ESCAPED_ORG)
    form["org"] = ui.HOSTILE_ORG  # as the browser sends the escaped value back

    response = act(client, form, HTMX, action="acknowledge")

    assert statuses([story.role, story.alice]) == ["acknowledged", "open"]
    ui.assert_inert(text(response), f"{ui.ESCAPED_ORG} (AS64666): 1 acknowledged.")
