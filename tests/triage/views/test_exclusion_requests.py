"""Exclusion requests: an analyst proposes an exclusion from an alert, an allowlist
admin approves it (an exclusion attributed to both, the alert closed by it) or
declines it with a reason, the requester may withdraw it; the alert shows the outcome."""

import threading
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from tests.triage import ui
from tests.triage.allowlist import form_data
from tests.triage.views.test_exclusion_from_alert import more_alerts  # noqa: F401
from triage.models import Alert, AlertStatusChange, Exclusion, ExclusionChange
from triage.requests import services
from triage.requests.models import ExclusionRequest

pytestmark = pytest.mark.django_db

NEW = "/exclusions/requests/new/"


def proposal(alert: Alert, **fields) -> dict:
    return {
        **form_data(as_organization="Evil VPS Ltd", as_number="64500", reason="pentest VPS"),
        "alert": str(alert.pk),
        "action": "send",
        **fields,
    }


def propose(people, alert: Alert, **fields) -> ExclusionRequest:
    response = ui.client_for(people.analyst).post(NEW, proposal(alert, **fields))
    assert response.status_code == 302, response.content.decode()[:2000]
    return ExclusionRequest.objects.get(alert=alert, requested_by=people.analyst, state="pending")


def approve(client, exclusion_request: ExclusionRequest, **data):
    return client.post(f"/exclusions/requests/{exclusion_request.pk}/approve/", data)


def test_it_offers_analysts_to_propose_and_admins_to_add(story, people):
    url = f"/alerts/{story.alice.pk}/"

    analyst = ui.client_for(people.analyst).get(url).content.decode()
    admin = ui.client_for(people.admin).get(url).content.decode()

    assert f'href="{NEW}?alert={story.alice.pk}"' in analyst
    assert "Propose exclusion" in analyst and "Add exclusion" not in analyst
    assert "Propose exclusion" not in admin and "Add exclusion" in admin


def test_it_prefills_the_network_and_optionally_the_principal(story, people):
    client = ui.client_for(people.analyst)

    network = client.get(f"{NEW}?alert={story.alice.pk}").context["form"]
    principal = client.get(f"{NEW}?alert={story.alice.pk}&principal=1").context["form"]

    assert (network["as_organization"].value(), network["as_number"].value()) == (
        "Evil VPS Ltd",
        64500,
    )
    assert network["user_name"].value() in (None, "")
    assert (principal["account_id"].value(), principal["user_name"].value()) == (
        story.alice.account_id,
        "alice",
    )
    assert network["expires_on"].value() == (timezone.now() + timedelta(days=90)).date()


def test_it_previews_without_a_reason_and_sends_only_with_one(story, people):
    client = ui.client_for(people.analyst)

    shown = client.post(NEW, proposal(story.alice, reason="", action="preview"))
    refused = client.post(NEW, proposal(story.alice, reason="  "))

    assert shown.status_code == 200
    assert shown.context["impact"].events == 1
    assert "1</strong> of 8 the rule saw" in shown.content.decode()
    assert refused.status_code == 200
    assert "needs a reason" in str(refused.context["form"].errors["reason"])
    assert not ExclusionRequest.objects.exists()


def test_it_refuses_to_send_what_could_never_be_approved(story, people):
    client = ui.client_for(people.analyst)

    response = client.post(NEW, proposal(story.alice, as_organization="**", as_number=""))

    assert response.status_code == 200
    assert "matches every network" in response.content.decode()
    assert not ExclusionRequest.objects.exists()


def test_it_shows_the_waiting_request_instead_of_a_second_button(story, people):
    client = ui.client_for(people.analyst)

    sent = client.post(NEW, proposal(story.alice))
    page = client.get(f"/alerts/{story.alice.pk}/").content.decode()
    again = client.get(f"{NEW}?alert={story.alice.pk}")
    twice = client.post(NEW, proposal(story.alice))

    exclusion_request = ExclusionRequest.objects.get()
    assert sent["Location"] == f"/alerts/{story.alice.pk}/"
    assert f"Your request #{exclusion_request.pk} waits" in page
    assert "Propose exclusion" not in page
    assert "pentest VPS" in page and "Pending" in page
    assert again["Location"] == f"/exclusions/requests/{exclusion_request.pk}/"
    assert twice.status_code == 302 and ExclusionRequest.objects.count() == 1
    # Another analyst sees it on the alert and may still propose other conditions.
    other = type(people.analyst).objects.create(username="otto")
    other.groups.add(*people.analyst.groups.all())
    theirs = ui.client_for(other).get(f"/alerts/{story.alice.pk}/").content.decode()
    assert f"Request #{exclusion_request.pk}</a> by ana" in theirs
    assert "Propose exclusion" in theirs


def test_it_sends_an_admin_to_the_exclusion_editor(story, people):
    response = ui.client_for(people.admin).get(f"{NEW}?alert={story.alice.pk}&principal=1")

    assert response.status_code == 302
    assert response["Location"] == f"/exclusions/new/?alert={story.alice.pk}&principal=1"


def test_it_lists_pending_requests_for_admins_with_the_count(story, people):
    exclusion_request = propose(people, story.alice)
    client = ui.client_for(people.admin)

    queue = client.get("/exclusions/requests/").content.decode()
    allowlist = client.get("/exclusions/").content.decode()
    decided = client.get("/exclusions/requests/?state=decided").content.decode()

    assert f'href="/exclusions/requests/{exclusion_request.pk}/"' in queue
    assert "pentest VPS" in queue and "ana" in queue
    assert 'Requests <span class="count">1' in allowlist
    assert 'badge-new">1<span class="visually-hidden"> exclusion request waiting' in allowlist
    assert "pentest VPS" not in decided
    analyst_page = ui.client_for(people.analyst).get("/exclusions/").content.decode()
    assert "exclusion request waiting" not in analyst_page  # the badge is for admins


def test_it_shows_the_impact_preview_to_the_admin(story, people):
    exclusion_request = propose(people, story.alice)

    response = ui.client_for(people.admin).get(f"/exclusions/requests/{exclusion_request.pk}/")

    page = response.content.decode()
    assert response.context["impact"].open_alerts == 1
    assert "1</strong> of 8 the rule saw" in page
    assert f'action="/exclusions/requests/{exclusion_request.pk}/approve/"' in page
    assert f'action="/exclusions/requests/{exclusion_request.pk}/decline/"' in page


def test_approving_adds_the_exclusion_attributed_to_both_and_closes_the_alert(story, people):
    exclusion_request = propose(people, story.alice, user_name="alice")
    client = ui.client_for(people.admin)

    response = approve(client, exclusion_request)

    exclusion = Exclusion.objects.get()
    assert response["Location"] == f"/exclusions/{exclusion.pk}/"
    assert (exclusion.as_organization, exclusion.as_number, exclusion.user_name) == (
        "Evil VPS Ltd",
        64500,
        "alice",
    )
    assert (exclusion.reason, exclusion.created_by) == ("pentest VPS", "adam")
    change = ExclusionChange.objects.get(exclusion=exclusion)
    assert change.changed_by == "adam"
    assert change.after["requested"] == {"by": "ana", "request": exclusion_request.pk}
    alert = Alert.objects.get(pk=story.alice.pk)
    assert (alert.status, alert.close_reason) == ("closed", "false_positive")
    closing = AlertStatusChange.objects.get(alert=alert)
    assert (closing.closed_by_exclusion, closing.changed_by) == (exclusion, people.admin)
    exclusion_request.refresh_from_db()
    assert (exclusion_request.state, exclusion_request.exclusion) == ("approved", exclusion)
    assert exclusion_request.decided_by == people.admin
    exclusion_page = client.get(response["Location"]).content.decode()
    assert f"Requested by ana (request #{exclusion_request.pk}), approved by adam" in exclusion_page
    alert_page = ui.client_for(people.analyst).get(f"/alerts/{alert.pk}/").content.decode()
    assert "Approved by adam" in alert_page
    assert f'href="/exclusions/{exclusion.pk}/">exclusion #{exclusion.pk}</a>' in alert_page
    assert Alert.objects.get(pk=story.role.pk).status == "open"


def test_approving_closes_every_matching_alert_only_when_asked(story, people, more_alerts):  # noqa: F811
    exclusion_request = propose(people, story.alice)
    client = ui.client_for(people.admin)

    approve(client, exclusion_request, close_matching="on", confirm_broad="on")

    statuses = dict(Alert.objects.values_list("event__event_id", "status"))
    assert statuses["alice-attack"] == statuses["bob"] == "closed"
    assert statuses["dave"] == "open"
    assert Alert.objects.get(event__event_id="carol").close_reason == "true_positive"


def test_a_broad_request_needs_the_confirmation_to_approve(story, people, more_alerts):  # noqa: F811
    exclusion_request = propose(people, story.alice)
    client = ui.client_for(people.admin)
    shown = client.get(f"/exclusions/requests/{exclusion_request.pk}/").content.decode()

    refused = approve(client, exclusion_request)
    confirmed = approve(client, exclusion_request, confirm_broad="on")

    assert "Approve although it is broad" in shown
    assert refused.status_code == 200
    assert "Tick “Approve although it is broad”" in refused.content.decode()
    assert confirmed.status_code == 302
    change = ExclusionChange.objects.get()
    assert change.after["confirmed_broad"]["events"] == 3
    assert change.after["requested"]["by"] == "ana"


def test_a_second_approval_makes_no_second_exclusion(story, people):
    exclusion_request = propose(people, story.alice)
    client = ui.client_for(people.admin)

    approve(client, exclusion_request)
    again = approve(client, exclusion_request)
    declined = client.post(
        f"/exclusions/requests/{exclusion_request.pk}/decline/", {"reason": "late"}
    )

    assert Exclusion.objects.count() == 1
    assert again["Location"] == f"/exclusions/requests/{exclusion_request.pk}/"
    page = client.get(again["Location"]).content.decode()
    assert "was approved already by adam" in page
    assert declined.status_code == 302
    assert ExclusionRequest.objects.get().state == "approved"


def test_declining_needs_a_reason_the_alert_then_shows(story, people):
    exclusion_request = propose(people, story.alice)
    client = ui.client_for(people.admin)
    url = f"/exclusions/requests/{exclusion_request.pk}/decline/"

    empty = client.post(url, {"reason": " "})
    declined = client.post(url, {"reason": "Too broad: narrow it to <b>alice</b>"})

    assert empty.status_code == 200
    assert "Declining needs a reason" in empty.content.decode()
    assert declined["Location"] == "/exclusions/requests/"
    exclusion_request.refresh_from_db()
    assert exclusion_request.state == "declined"
    assert not Exclusion.objects.exists()
    assert Alert.objects.get(pk=story.alice.pk).status == "open"
    page = ui.client_for(people.analyst).get(f"/alerts/{story.alice.pk}/").content.decode()
    assert "Declined by adam" in page
    assert "Too broad: narrow it to &lt;b&gt;alice&lt;/b&gt;" in page
    assert "Propose exclusion" in page  # and may propose again


def test_an_admin_may_not_approve_their_own_request(story, people):
    exclusion_request = propose(people, story.alice)
    people.analyst.groups.add(Group.objects.get(name="allowlist-admin"))  # ana is promoted
    client = ui.client_for(people.analyst)

    page = client.get(f"/exclusions/requests/{exclusion_request.pk}/").content.decode()
    refused = approve(client, exclusion_request)

    assert "/approve/" not in page and "Withdraw request" in page
    assert refused.status_code == 200
    assert "You made this request" in refused.content.decode()
    assert not Exclusion.objects.exists()
    assert ExclusionRequest.objects.get().state == "pending"


def test_the_requester_withdraws_a_waiting_request(story, people):
    exclusion_request = propose(people, story.alice)
    url = f"/exclusions/requests/{exclusion_request.pk}/withdraw/"

    by_admin = ui.client_for(people.admin).post(url)
    by_requester = ui.client_for(people.analyst).post(url)
    approved = approve(ui.client_for(people.admin), exclusion_request)

    assert by_admin.status_code == 403
    assert by_requester["Location"] == f"/alerts/{story.alice.pk}/"
    assert ExclusionRequest.objects.get().state == "withdrawn"
    assert approved.status_code == 302 and not Exclusion.objects.exists()
    page = ui.client_for(people.analyst).get(f"/alerts/{story.alice.pk}/").content.decode()
    assert "Withdrawn by ana" in page and "Propose exclusion" in page


def test_attacker_chosen_names_stay_text(story, people):
    exclusion_request = propose(
        people,
        story.role,
        as_organization=story.role.as_organization,
        as_number="",
        reason='<img src=x onerror=alert("ua")>',
    )
    admin = ui.client_for(people.admin)

    pages = [
        ui.client_for(people.analyst).get(f"{NEW}?alert={story.role.pk}&principal=1"),
        admin.get(f"/exclusions/requests/{exclusion_request.pk}/"),
        admin.get("/exclusions/requests/"),
        admin.get(f"/alerts/{story.role.pk}/"),
    ]

    for response in pages:
        assert response.status_code in (200, 302)
        if response.status_code == 200:
            ui.assert_inert(response.content.decode(), ui.ESCAPED_ORG)


@pytest.mark.django_db(transaction=True)
def test_two_admins_approving_at_once_make_one_exclusion(settings, people_and_story):
    people, story = people_and_story
    exclusion_request = services.exclusion_request_create(
        by=people.analyst,
        alert=story.alice,
        reason="pentest VPS",
        as_organization="Evil VPS Ltd",
    )
    second = type(people.admin).objects.create(username="bea")
    second.groups.add(Group.objects.get(name="allowlist-admin"))
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def decide(admin) -> None:
        try:
            start.wait()
            services.exclusion_request_approve(exclusion_request=exclusion_request, by=admin)
            outcomes.append("approved")
        except ValidationError as error:
            outcomes.append(error.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=decide, args=(admin,)) for admin in (people.admin, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["approved", services.NOT_PENDING]
    assert Exclusion.objects.count() == 1
    assert AlertStatusChange.objects.filter(alert=story.alice).count() == 1


@pytest.fixture
def people_and_story(settings):
    story = ui.stories(settings)
    return ui.people(), story
