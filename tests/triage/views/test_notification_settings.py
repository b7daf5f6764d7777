"""Settings → Notifications: who may see it, adding and editing each kind of destination,
secrets shown once and masked after, the change history, the delivery log, Send test
against a loopback receiver, disable/enable/remove, and the alert page's deliveries."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone

from tests.triage import ui
from triage.notify import services
from triage.notify.models import Delivery, DeliveryAttempt, Destination, DestinationChange

pytestmark = pytest.mark.django_db

LIST = "/settings/notifications/"
HOSTILE_NAME = '<script>alert("name")</script> pager'
HOSTILE_ERROR = 'HTTP 500 from hook: <script>alert("error")</script>'
APPRISE_URL = "json://127.0.0.1:9/hook?token=tok-very-secret-123"
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.fixture
def integrator(people):
    """A member of integrations-admin and of no other role."""
    user = ui.get_user_model().objects.create(username="ivy", password=people.analyst.password)
    user.groups.add(Group.objects.get(name=services.INTEGRATIONS_ADMIN))
    return user


@pytest.fixture
def ivy(integrator) -> Client:
    return ui.client_for(integrator)


@pytest.fixture
def hook() -> Destination:
    return services.destination_create(
        by="cli:sam",
        name="SOC hook",
        kind="webhook",
        target="https://hooks.example.com/asnwatch",
        secret=WEBHOOK_SECRET,
    )


def form(**fields) -> dict:
    data = {"mode": "each", "throttle_minutes": "0"}
    return data | fields


def test_only_integrations_admins_and_superusers_see_the_pages(people, integrator, hook):
    pages = [LIST, f"{LIST}new/?kind=webhook", f"{LIST}{hook.pk}/", f"{LIST}{hook.pk}/edit/"]
    for page in pages:
        assert ui.client_for(integrator).get(page).status_code == 200, page
        assert ui.client_for(people.superuser).get(page).status_code == 200, page
        for persona in (people.analyst, people.admin, people.outsider):
            answer = ui.client_for(persona).get(page)
            assert answer.status_code == 403, (page, persona)
            assert "No access" in answer.content.decode()
        anonymous = Client().get(page)
        assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login/")


def test_an_analyst_changes_nothing_by_posting(people, hook):
    analyst = ui.client_for(people.analyst)
    for action in ("disable", "remove", "test", "edit"):
        answer = analyst.post(f"{LIST}{hook.pk}/{action}/", form(name="taken over"))
        assert answer.status_code == 403, action
    answer = analyst.post(f"{LIST}new/?kind=email", form(name="mine", addresses="a@example.com"))
    assert answer.status_code == 403
    hook.refresh_from_db()
    assert (hook.name, hook.enabled, hook.removed_at) == ("SOC hook", True, None)
    assert Destination.objects.count() == 1 and not Delivery.objects.exists()


def test_the_settings_link_shows_only_for_those_who_may_open_it(people, integrator):
    for persona, shown in ((people.superuser, True), (people.analyst, False)):
        page = ui.client_for(persona).get("/alerts/").content.decode()
        assert (f'href="{LIST}"' in page) is shown
    # An integrations admin without a triage role has no alert list; the settings page has the link.
    assert f'href="{LIST}"' in ui.client_for(integrator).get(LIST).content.decode()


def test_an_email_destination_is_added_with_filters_and_its_history_says_who(ivy):
    answer = ivy.post(
        f"{LIST}new/?kind=email",
        form(
            name="On-call mail",
            addresses="soc@example.com, lead@example.com",
            mode="summary",
            throttle_minutes="15",
            accounts="111122223333\n444455556666",
            user_names="alice",
            as_organizations="Evil*",
            as_numbers="64500, 64501",
        ),
    )
    destination = Destination.objects.get(name="On-call mail")
    assert answer.status_code == 302 and answer["Location"] == f"{LIST}{destination.pk}/"
    assert destination.target == "soc@example.com, lead@example.com"
    assert (destination.mode, destination.throttle_minutes) == ("summary", 15)
    assert destination.accounts == ["111122223333", "444455556666"]
    assert destination.as_numbers == [64500, 64501]
    assert destination.as_organizations == ["Evil*"]
    listing = ivy.get(LIST).content.decode()
    assert "On-call mail" in listing and "AS numbers: 64500, 64501" in listing
    detail = ivy.get(answer["Location"]).content.decode()
    assert "Created</strong> by ivy" in detail


def test_bad_input_is_shown_on_the_form_and_nothing_is_saved(ivy):
    answer = ivy.post(
        f"{LIST}new/?kind=email", form(name="x", addresses="not-an-address", as_numbers="AS1")
    )
    page = answer.content.decode()
    assert answer.status_code == 200
    assert "not an AS number: &#x27;AS1&#x27;" in page
    assert not Destination.objects.exists()
    answer = ivy.post(f"{LIST}new/?kind=email", form(name="x", addresses="not-an-address"))
    assert "not an e-mail address" in answer.content.decode()
    assert not Destination.objects.exists()
    assert ivy.get(f"{LIST}new/?kind=carrier-pigeon").status_code == 400


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "https://169.254.169.254/hook",
        "https://[fd00:ec2::254]/hook",
    ],
)
def test_webhooks_to_metadata_addresses_are_refused_on_the_form(ivy, url):
    answer = ivy.post(f"{LIST}new/?kind=webhook", form(name="metadata", url=url))
    assert answer.status_code == 200
    assert re.search(r"link-local or metadata address|plain http is allowed only", answer.text)
    assert not Destination.objects.exists()


def test_a_generated_webhook_secret_is_shown_once_and_masked_after(ivy):
    answer = ivy.post(
        f"{LIST}new/?kind=webhook", form(name="Hook", url="https://hooks.example.com/a")
    )
    destination = Destination.objects.get(name="Hook")
    assert destination.secret.startswith("whsec_")
    assert answer.status_code == 200 and destination.secret in answer.content.decode()
    for page in (LIST, f"{LIST}{destination.pk}/", f"{LIST}{destination.pk}/edit/"):
        text = ivy.get(page).content.decode()
        assert destination.secret not in text, page
    assert "Signing secret: set" in ivy.get(f"{LIST}{destination.pk}/").content.decode()


def test_a_typed_secret_is_kept_and_never_rendered(ivy):
    answer = ivy.post(
        f"{LIST}new/?kind=webhook",
        form(name="Hook", url="https://hooks.example.com/a", secret=WEBHOOK_SECRET),
    )
    destination = Destination.objects.get(name="Hook")
    assert answer.status_code == 302 and destination.secret == WEBHOOK_SECRET
    # A refused form does not echo the secret back either.
    again = ivy.post(
        f"{LIST}new/?kind=webhook",
        form(name="Hook", url="https://hooks.example.com/a", secret=WEBHOOK_SECRET),
    )
    assert "exists already" in again.content.decode()
    assert WEBHOOK_SECRET not in again.content.decode()


def test_editing_a_webhook_keeps_or_replaces_its_secret_and_records_it_as_changed(ivy, hook):
    edit = f"{LIST}{hook.pk}/edit/"
    fields = form(name="SOC hook", url="https://hooks.example.com/v2", user_names="alice")
    assert ivy.post(edit, fields).status_code == 302
    hook.refresh_from_db()
    assert (hook.target, hook.secret, hook.user_names) == (
        "https://hooks.example.com/v2",
        WEBHOOK_SECRET,
        ["alice"],
    )
    answer = ivy.post(edit, fields | {"new_secret": "on"})
    hook.refresh_from_db()
    assert hook.secret != WEBHOOK_SECRET and hook.secret in answer.content.decode()
    detail = ivy.get(f"{LIST}{hook.pk}/").content.decode()
    assert hook.secret not in detail and WEBHOOK_SECRET not in detail
    newest = DestinationChange.objects.filter(destination=hook).first()
    assert (newest.changed_by, newest.after["secret"]) == ("ivy", "changed")
    # A webhook URL may hold the receiver's token: only its host is shown back.
    assert "https://hooks.example.com/v2" not in detail
    assert "https://hooks.example.com/…" in detail and "changed" in detail
    assert 'value="https://hooks.example.com' not in ivy.get(edit).content.decode()


def test_an_apprise_url_is_masked_everywhere_after_saving(ivy, people):
    answer = ivy.post(f"{LIST}new/?kind=apprise", form(name="Chat", url=APPRISE_URL))
    destination = Destination.objects.get(name="Chat")
    assert answer.status_code == 302 and destination.target == APPRISE_URL
    edit = f"{LIST}{destination.pk}/edit/"
    # Left empty on the edit form, the URL stays; typed anew, history says "changed".
    assert ivy.post(edit, form(name="Chat", url="", throttle_minutes="5")).status_code == 302
    destination.refresh_from_db()
    assert (destination.target, destination.throttle_minutes) == (APPRISE_URL, 5)
    assert ivy.post(edit, form(name="Chat", url=APPRISE_URL + "x")).status_code == 302
    for client in (ivy, ui.client_for(people.superuser)):
        for page in (LIST, f"{LIST}{destination.pk}/", edit):
            text = client.get(page).content.decode()
            assert "tok-very-secret" not in text and "127.0.0.1:9" not in text, page
    assert "json://…" in ivy.get(LIST).content.decode()


def test_send_test_delivers_a_signed_message_and_says_so(ivy, receiver):
    destination = services.destination_create(
        by="cli:sam", name="Loopback", kind="webhook", target=receiver.url(), secret=WEBHOOK_SECRET
    )
    answer = ivy.post(f"{LIST}{destination.pk}/test/", follow=True)
    assert "Test message delivered to Loopback." in answer.content.decode()
    (request,) = receiver.requests
    assert request.verified(WEBHOOK_SECRET)["type"] == "test"
    log = answer.content.decode().split('id="log-title"')[1]
    assert "delivered" in log and "test" in log


def test_send_test_shows_the_error_when_the_receiver_fails(ivy, receiver):
    destination = services.destination_create(
        by="cli:sam", name="Loopback", kind="webhook", target=receiver.url(), secret=WEBHOOK_SECRET
    )
    receiver.answer(500)
    answer = ivy.post(f"{LIST}{destination.pk}/test/", follow=True)
    page = answer.content.decode()
    assert "Test message not delivered:" in page and "500" in page
    assert DeliveryAttempt.objects.get().outcome == "failed"


def test_the_delivery_log_is_newest_first_paginated_and_escaped(ivy, hook, story):
    now = timezone.now()
    for number in range(55):
        delivery = Delivery.objects.create(
            destination=hook,
            event_type="alert.created" if number == 54 else "test",
            alert=story.role if number == 54 else None,
            webhook_id=f"msg_{number}",
            next_attempt_at=now,
            created_at=now,
            status="failed",
        )
        DeliveryAttempt.objects.create(
            delivery=delivery,
            at=now + timedelta(seconds=number),
            duration_ms=1000 + number,
            status_code=500,
            error=HOSTILE_ERROR if number == 54 else f"try {number}",
            outcome="failed",
        )
    first = ivy.get(f"{LIST}{hook.pk}/").content.decode()
    assert first.index("1054 ms") < first.index("1053 ms")
    assert "1004 ms" not in first and "Page 1 of 2" in first
    assert "<script>alert" not in first and "&lt;script&gt;alert(&quot;error&quot;)" in first
    assert ui.HOSTILE_FUNCTION not in first
    second = ivy.get(f"{LIST}{hook.pk}/?page=2").content.decode()
    assert "1004 ms" in second and "1000 ms" in second and "1054 ms" not in second
    assert ivy.get(f"{LIST}{hook.pk}/?page=zero").status_code == 400


def test_a_hostile_destination_name_is_escaped(ivy):
    services.destination_create(
        by="cli:sam", name=HOSTILE_NAME, kind="email", target="soc@example.com"
    )
    destination = Destination.objects.get()
    for page in (LIST, f"{LIST}{destination.pk}/", f"{LIST}{destination.pk}/edit/"):
        text = ivy.get(page).content.decode()
        assert "<script>alert" not in text and "&lt;script&gt;" in text, page


@pytest.mark.parametrize("action", ["disable", "enable", "remove", "test"])
def test_a_get_to_an_action_changes_nothing(ivy, hook, action):
    assert ivy.get(f"{LIST}{hook.pk}/{action}/").status_code == 405
    hook.refresh_from_db()
    assert (hook.enabled, hook.removed_at) == (True, None)
    assert DestinationChange.objects.filter(destination=hook).count() == 1
    assert not Delivery.objects.exists()


def test_every_post_needs_the_csrf_token(integrator, hook):
    client = Client(enforce_csrf_checks=True)
    client.force_login(integrator)
    assert client.post(f"{LIST}{hook.pk}/disable/").status_code == 403
    assert (
        client.post(f"{LIST}new/?kind=email", form(name="x", addresses="a@b.example")).status_code
        == 403
    )
    hook.refresh_from_db()
    assert hook.enabled and Destination.objects.count() == 1


def test_disable_enable_and_remove_keep_the_deliveries_and_the_history(ivy, hook):
    now = timezone.now()
    delivery = Delivery.objects.create(
        destination=hook, event_type="test", webhook_id="msg_x", next_attempt_at=now, created_at=now
    )
    assert ivy.post(f"{LIST}{hook.pk}/disable/").status_code == 302
    hook.refresh_from_db()
    assert not hook.enabled
    assert "disabled" in ivy.get(LIST).content.decode()
    assert ivy.post(f"{LIST}{hook.pk}/enable/").status_code == 302
    hook.refresh_from_db()
    assert hook.enabled
    answer = ivy.post(f"{LIST}{hook.pk}/remove/", follow=True)
    assert "Destination SOC hook removed" in answer.content.decode()
    assert "SOC hook</a>" not in ivy.get(LIST).content.decode()
    assert ivy.get(f"{LIST}{hook.pk}/").status_code == 404
    hook.refresh_from_db()
    assert not hook.enabled and hook.removed_at is not None
    assert Delivery.objects.filter(pk=delivery.pk).exists()
    actions = list(
        DestinationChange.objects.filter(destination=hook).values_list("action", "changed_by")
    )
    assert actions == [
        ("removed", "ivy"),
        ("disabled", "ivy"),
        ("enabled", "ivy"),
        ("disabled", "ivy"),
        ("created", "cli:sam"),
    ]


def test_the_alert_page_shows_where_its_notifications_went_to_every_role(people, story, hook):
    now = timezone.now()
    pager = services.destination_create(
        by="cli:sam", name=HOSTILE_NAME, kind="apprise", target=APPRISE_URL, mode="summary"
    )
    Delivery.objects.create(
        destination=hook,
        event_type="alert.created",
        alert=story.role,
        webhook_id="msg_role",
        next_attempt_at=now,
        created_at=now,
        status="pending",
        attempts=3,
        last_error=HOSTILE_ERROR,
    )
    summary = Delivery.objects.create(
        destination=pager,
        event_type="alerts.summary",
        webhook_id="msg_summary",
        next_attempt_at=now,
        created_at=now,
        status="delivered",
        attempts=1,
    )
    summary.summary_alerts.set([story.role])
    for persona in (people.analyst, people.admin, people.superuser):
        page = ui.client_for(persona).get(f"/alerts/{story.role.pk}/").content.decode()
        section = page.split('id="notified-title"')[1].split("</section>")[0]
        assert "SOC hook" in section and "pending" in section and "3 attempts" in section
        assert "&lt;script&gt;alert(&quot;error&quot;)" in section
        assert "&lt;script&gt;alert(&quot;name&quot;)" in section and "in a summary" in section
        assert "<script>" not in section
        assert WEBHOOK_SECRET not in page and "tok-very-secret" not in page
    other = ui.client_for(people.analyst).get(f"/alerts/{story.alice.pk}/").content.decode()
    assert "Not sent anywhere" in other and "SOC hook" not in other


def test_a_name_already_taken_is_refused_on_the_form_also_when_renaming(ivy, hook):
    other = services.destination_create(
        by="cli:sam", name="Mail", kind="email", target="soc@example.com"
    )
    answer = ivy.post(f"{LIST}{other.pk}/edit/", form(name="SOC hook", addresses="a@example.com"))
    assert answer.status_code == 200
    assert "a destination named &#x27;SOC hook&#x27; exists already" in answer.content.decode()
    other.refresh_from_db()
    assert (other.name, other.target) == ("Mail", "soc@example.com")
    assert ivy.post(f"{LIST}{hook.pk}/remove/").status_code == 302
    again = ivy.post(f"{LIST}new/?kind=email", form(name="SOC hook", addresses="a@example.com"))
    assert "removed destinations keep their names" in again.content.decode()
