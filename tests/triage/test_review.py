"""The weekly review: its figures on a fixed week checked number by number, the page,
the CSV export and the e-mailed digest.

The week is 2026-W47 (Monday 16 to Sunday 22 November, UTC). Alerts are raised by
the detector as in production, then their creation and workflow times are moved
into the week (created_at and changed_at are set by the database on insert).
Tests of a week in progress set the clock to Tuesday of the week after, 2026-W48.
"""

import csv
import io
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from unittest import mock

import pytest
from celery.schedules import crontab
from django.core import mail
from django.test import Client
from django.utils import timezone

from config.celery import app, cron
from tests.cloudtrail import iam_user_identity, invoke_record, run_ingest_files, write_log
from tests.triage import ui
from triage import detector
from triage.alerts import alert_acknowledge, alert_close, alert_reopen
from triage.allowlist import services as exclusions
from triage.models import Alert, AlertStatusChange, Exclusion, ExclusionChange
from triage.review.exports import csv_cell
from triage.review.selectors import parse_week, weekly_review
from triage.review.services import review_digest_send
from triage.tasks import send_weekly_review

pytestmark = pytest.mark.django_db

MONDAY = datetime(2026, 11, 16, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
TUESDAY_AFTER = MONDAY + 8 * DAY + 10 * HOUR  # 2026-W48, in progress in the tests that say so
FORMULA_USER = '=HYPERLINK("http://x.example/","click")'


@pytest.fixture(scope="session")
def geoip_dir(tmp_path_factory):
    return ui.write_geoip(tmp_path_factory.mktemp("geoip-ui"))


@pytest.fixture
def people() -> ui.People:
    return ui.people()


def _at(model, pk: int, **moments) -> None:
    model.objects.filter(pk=pk).update(**moments)


def _then(alert: Alert, action, moment: datetime, *, by, **arguments) -> None:
    """A workflow action on the alert, as if taken at `moment`."""
    action(alert=alert, by=by, **arguments)
    last = AlertStatusChange.objects.filter(alert=alert).order_by("-id").first()
    _at(AlertStatusChange, last.pk, changed_at=moment)


@pytest.fixture
def week(settings, people) -> dict[str, Alert]:
    """Seven alerts; a1 to a6 created in W47, a7 the week before and closed in W47."""
    now = timezone.now()
    settings.DETECTION_BASELINE_START = now - 30 * DAY
    sources = {
        "a1": ("u1", ui.EVIL_VPS),
        "a2": ("u2", ui.EVIL_VPS),
        "a3": ("u3", ui.EVIL_VPS),
        "a4": (FORMULA_USER, ui.OFFICE),
        "a5": ("u5", ui.OFFICE),
        "a6": ("u1", ui.HOSTILE),
        "a7": ("u7", ui.OFFICE),
    }
    records = [
        invoke_record(
            when=now - 2 * HOUR, source_ip=ip, identity=iam_user_identity(user), event_id=name
        )
        for name, (user, ip) in sources.items()
    ]
    with tempfile.TemporaryDirectory() as folder:
        assert run_ingest_files(write_log(Path(folder) / "w.json.gz", records)).error is None
    detector.detect()
    alerts = {name: Alert.objects.get(event__event_id=name) for name in sources}
    by = people.analyst

    def created(name: str, moment: datetime) -> None:
        _at(Alert, alerts[name].pk, created_at=moment)
        alerts[name].refresh_from_db()

    def then(name: str, action, moment: datetime, **arguments) -> None:
        _then(alerts[name], action, moment, by=by, **arguments)

    t = MONDAY
    created("a1", t + 10 * HOUR)
    then("a1", alert_acknowledge, t + 11 * HOUR)
    then("a1", alert_close, t + 13 * HOUR, reason="false_positive")
    created("a2", t + 12 * HOUR)
    then("a2", alert_close, t + 14 * HOUR, reason="false_positive")
    created("a3", t + DAY + 9 * HOUR)
    then("a3", alert_close, t + 2 * DAY + 15 * HOUR, reason="true_positive")
    created("a4", t + 2 * DAY + 8 * HOUR)
    then("a4", alert_acknowledge, t + 2 * DAY + 8.5 * HOUR)
    created("a5", t + 3 * DAY + 10 * HOUR)
    then("a5", alert_close, t + 3 * DAY + 15 * HOUR, reason="benign_positive")
    created("a6", t + 6 * DAY + 20 * HOUR)
    then("a6", alert_close, t + 6 * DAY + 21 * HOUR, reason="false_positive")
    created("a7", t - 3 * DAY + 10 * HOUR)
    then("a7", alert_close, t + DAY + 9 * HOUR, reason="false_positive")
    return alerts


@pytest.fixture
def allowlist(week) -> dict[str, Exclusion]:
    now = timezone.now()
    added = exclusions.exclusion_create(by="cli:sam", reason="new in W47", as_number=64990)
    retired = exclusions.exclusion_create(by="cli:sam", reason="retired in W47", as_number=64991)
    exclusions.exclusion_disable(exclusion=retired, by="adam")
    expired = exclusions.exclusion_create(
        by="cli:sam", reason="expired in W47", as_number=64992, expires_at=MONDAY + 2 * DAY
    )
    soon = exclusions.exclusion_create(
        by="cli:sam", reason="<b>expiring</b> soon", as_number=64993, expires_at=now + 5 * DAY
    )
    later = exclusions.exclusion_create(
        by="cli:sam", reason="expiring later", as_number=64994, expires_at=now + 20 * DAY
    )
    earlier = MONDAY - 10 * DAY
    ExclusionChange.objects.update(changed_at=earlier)
    ExclusionChange.objects.filter(exclusion=added, action="created").update(
        changed_at=MONDAY + DAY
    )
    ExclusionChange.objects.filter(exclusion=retired, action="disabled").update(
        changed_at=MONDAY + 3 * DAY
    )
    return {"added": added, "retired": retired, "expired": expired, "soon": soon, "later": later}


def test_it_defaults_to_the_last_full_week():
    assert parse_week(None, today=date(2026, 11, 28)) == date(2026, 11, 16)
    assert parse_week(None, today=date(2026, 11, 23)) == date(2026, 11, 16)  # a Monday
    assert parse_week(None, today=date(2026, 11, 22)) == date(2026, 11, 9)  # a Sunday
    assert parse_week("2026-W47") == date(2026, 11, 16)
    assert parse_week("2027-w01", today=date(2027, 1, 4)) == date(2027, 1, 4)
    with pytest.raises(ValueError, match="ISO week"):
        parse_week("2026-47")


def test_it_computes_the_weeks_figures(week, allowlist):
    review = weekly_review(week_start=MONDAY.date())

    assert review.name == "2026-W47"
    assert review.created == 6
    assert review.closed == 6  # a1 a2 a3 a5 a6, and a7 from the week before
    assert {value: count for value, _, count in review.closed_by_reason} == {
        "true_positive": 1,
        "false_positive": 4,
        "benign_positive": 1,
        "duplicate": 0,
        "other": 0,
    }
    assert review.false_positive_rate == pytest.approx(4 / 6)
    # To acknowledge: 0.5 h (a4), 1 h (a1), 1 h (a6, closed), 2 h (a2, closed), 5 h, 30 h.
    ack = review.time_to_acknowledge
    assert (ack.count, ack.median, ack.p90) == (6, 1.5 * HOUR, 30 * HOUR)
    # To close: 1 h, 2 h, 3 h, 5 h, 30 h; a4 is not closed.
    close = review.time_to_close
    assert (close.count, close.median, close.p90) == (5, 3 * HOUR, 30 * HOUR)
    assert [a.pk for a in review.open_after_24h] == [week["a3"].pk, week["a4"].pk]

    networks = {
        g.as_organization: (g.count, g.as_numbers, g.propose_query) for g in review.fp_by_network
    }
    assert networks == {
        "Evil VPS Ltd": (2, [64500], "org=Evil+VPS+Ltd&asn=64500"),
        ui.HOSTILE_ORG: (1, [64666], ""),
        "Example Office Networks": (1, [64501], ""),
    }
    principals = {g.user_name: (g.count, g.propose_query) for g in review.fp_by_principal}
    assert principals == {"u1": (2, "account=111122223333&user=u1"), "u7": (1, ""), "u2": (1, "")}

    per_day = {day.isoformat(): counts for day, counts in review.per_day}
    assert per_day == {
        "2026-11-16": {"false_positive": 2},
        "2026-11-17": {"true_positive": 1},
        "2026-11-18": {"open": 1},  # a4 is acknowledged, not closed
        "2026-11-19": {"benign_positive": 1},
        "2026-11-20": {},
        "2026-11-21": {},
        "2026-11-22": {"false_positive": 1},
    }
    assert [e.pk for e in review.exclusions_added] == [allowlist["added"].pk]
    assert [(c.exclusion_id, c.action) for c in review.exclusions_changed] == [
        (allowlist["retired"].pk, "disabled")
    ]
    assert [e.pk for e in review.exclusions_expired] == [allowlist["expired"].pk]
    assert [e.pk for e in review.exclusions_expiring] == [allowlist["soon"].pk]


@pytest.mark.parametrize("persona", ["analyst", "admin", "superuser"])
def test_it_shows_the_review_to_every_role(week, people, persona):
    response = ui.client_for(getattr(people, persona)).get("/review/?week=2026-W47")

    assert response.status_code == 200
    page = response.content.decode()
    assert '<span class="value" id="created">6</span>' in page
    assert '<span class="value" id="fp-rate">67%</span>' in page
    assert "?week=2026-W46" in page and "?week=2026-W48" in page
    assert "/review/alerts.csv?week=2026-W47" in page
    assert "<svg" in page


def test_the_allowlist_lists_show_every_exclusions_conditions(week, people, allowlist):
    account_only = exclusions.exclusion_create(
        by="cli:sam", reason="the sandbox account", account_id="444455556666"
    )
    ExclusionChange.objects.filter(exclusion=account_only).update(changed_at=MONDAY + 2 * DAY)

    page = ui.client_for(people.analyst).get("/review/?week=2026-W47").content.decode()

    allowlist_section = page[page.index('id="allowlist-title"') :]
    for exclusion, condition in [
        (account_only, '<span class="cond">account</span> <span class="mono">444455556666</span>'),
        (allowlist["added"], '<span class="mono">AS64990</span>'),
        (allowlist["retired"], '<span class="mono">AS64991</span>'),
        (allowlist["expired"], '<span class="mono">AS64992</span>'),
        (allowlist["soon"], '<span class="mono">AS64993</span>'),
    ]:
        item = allowlist_section[allowlist_section.index(f'/exclusions/{exclusion.pk}/"') :]
        assert condition in item[: item.index("</li>")], exclusion.reason


@pytest.mark.parametrize("url", ["/review/", "/review/alerts.csv"])
def test_it_refuses_users_without_a_role(people, url):
    assert ui.client_for(people.outsider).get(url).status_code == 403
    anonymous = Client().get(url)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login/")


def test_it_defaults_to_the_last_full_week_and_refuses_a_bad_week(people):
    client = ui.client_for(people.analyst)

    assert client.get("/review/").context["week"].week_start == parse_week(None)
    assert client.get("/review/?week=soon").status_code == 400
    assert client.post("/review/").status_code == 405


def test_it_proposes_exclusions_to_admins_only(week, people):
    proposal = "/exclusions/new/?org=Evil+VPS+Ltd&amp;asn=64500"

    assert proposal in ui.client_for(people.admin).get("/review/?week=2026-W47").content.decode()
    as_analyst = ui.client_for(people.analyst).get("/review/?week=2026-W47").content.decode()
    assert proposal not in as_analyst
    prefilled = ui.client_for(people.admin).get("/exclusions/new/?org=Evil+VPS+Ltd&asn=64500")
    assert prefilled.context["form"]["as_organization"].value() == "Evil VPS Ltd"


def test_it_shows_hostile_names_as_text_in_the_page_and_its_charts(week, people, allowlist):
    page = ui.client_for(people.admin).get("/review/?week=2026-W47").content.decode()

    ui.assert_inert(page, ui.ESCAPED_ORG)
    svg = page[page.index('<svg class="bars narrow-bars"', page.index("fp-network-title")) :]
    svg = svg[: svg.index("</svg>")]
    assert "&lt;script&gt;alert(&quot;org&quot;)" in svg
    assert "<b>expiring</b>" not in page


def test_it_exports_the_weeks_alerts_as_csv_without_formulas(week, people):
    response = ui.client_for(people.analyst).get("/review/alerts.csv?week=2026-W47")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "asnwatch-alerts-2026-W47.csv" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [int(row["alert_id"]) for row in rows] == [
        week[n].pk for n in ("a1", "a2", "a3", "a4", "a5", "a6")
    ]
    a1 = rows[0]
    assert (a1["status"], a1["close_reason"], a1["as_organization"], a1["user_name"]) == (
        "closed",
        "false_positive",
        "Evil VPS Ltd",
        "u1",
    )
    assert a1["closed_at"] == (MONDAY + 13 * HOUR).isoformat()
    assert rows[3]["user_name"] == "'" + FORMULA_USER
    assert rows[3]["closed_at"] == ""


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("a=b", "a=b"),
        (None, ""),
    ],
)
def test_it_quotes_cells_a_spreadsheet_would_run(value, cell):
    assert csv_cell(value) == cell


def test_it_mails_the_digest_with_a_link_to_the_page(week, allowlist, settings):
    settings.REVIEW_RECIPIENTS = ["lead@example.com", "soc@example.com"]
    settings.SITE_URL = "https://asnwatch.example.com/"
    last_week = parse_week(None)

    summary = send_weekly_review()

    assert summary.endswith("1 message(s) sent")
    [message] = mail.outbox
    assert message.to == ["lead@example.com", "soc@example.com"]
    name = f"{last_week.isocalendar()[0]}-W{last_week.isocalendar()[1]:02d}"
    assert message.subject.startswith(f"asnwatch weekly review {name}:")
    assert f"https://asnwatch.example.com/review/?week={name}" in message.body


def test_the_digest_carries_the_weeks_figures(week, allowlist, settings):
    settings.REVIEW_RECIPIENTS = ["lead@example.com"]

    assert review_digest_send(week_start=MONDAY.date()) == 1

    [message] = mail.outbox
    assert message.subject == (
        "asnwatch weekly review 2026-W47: 6 alerts, 6 closed, false positives 67%"
    )
    body = message.body
    for line in (
        "Alerts created: 6",
        "Alerts closed: 6",
        "  False positive: 4",
        "  True positive: 1",
        "False-positive rate: 67%",
        "Time to acknowledge: median 1 h 30 min, p90 1 d 6 h",
        "Time to close: median 3 h 00 min, p90 1 d 6 h",
        "Not closed within 24 hours: 2",
        "  2  Evil VPS Ltd (worth an exclusion?)",
        "Allowlist: 1 added, 1 changed, 1 expired; 1 expiring in the next 14 days.",
        "The full review: http://127.0.0.1:8000/review/?week=2026-W47",
    ):
        assert line in body, line
    assert "<b>expiring</b> soon" in body  # plain text: not HTML-escaped


def test_the_digest_arrives_as_text_and_html_with_free_text_escaped(
    week,
    allowlist,
    settings,
    smtp_server,
):
    settings.REVIEW_RECIPIENTS = ["lead@example.com"]
    settings.SITE_URL = "https://asnwatch.example.com"

    assert review_digest_send(week_start=MONDAY.date()) == 1

    [message] = smtp_server.messages
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "False-positive rate: 67%" in text and "<b>expiring</b> soon" in text
    assert '<tr><th align="left">False-positive rate</th><td>67%</td></tr>' in html
    assert "<td>2</td><td>Evil VPS Ltd (worth an exclusion?)</td>" in html
    # An exclusion's reason and an organisation's name are shown, never obeyed.
    for raw in ("<b>", "<script>"):
        assert raw not in html
    assert ": &lt;b&gt;expiring&lt;/b&gt; soon</li>" in html
    assert "<td>&lt;script&gt;alert(&quot;org&quot;)&lt;/script&gt; Hosting</td>" in html
    assert '<a href="https://asnwatch.example.com/review/?week=2026-W47">' in html


def test_it_sends_no_digest_without_recipients(week, settings):
    settings.REVIEW_RECIPIENTS = []

    assert send_weekly_review().endswith("0 message(s) sent")
    assert mail.outbox == []


def test_the_digest_is_scheduled_for_monday_morning():
    entry = app.conf.beat_schedule["send-weekly-review"]

    assert entry["task"] == "triage.tasks.send_weekly_review"
    assert entry["schedule"] == crontab(minute="0", hour="8", day_of_week="mon")
    assert cron("30 6 1 * *") == crontab(minute="30", hour="6", day_of_month="1")


# ------------------------------------------- alerts count by their status at the week's end


def _csv_rows(client: Client, week: str) -> dict[int, dict[str, str]]:
    response = client.get("/review/alerts.csv", {"week": week})
    rows = csv.DictReader(io.StringIO(response.content.decode()))
    return {int(row["alert_id"]): row for row in rows}


def _digest(settings, week_start: date) -> mail.EmailMessage:
    settings.REVIEW_RECIPIENTS = ["lead@example.com"]
    assert review_digest_send(week_start=week_start) == 1
    return mail.outbox[-1]


def test_an_alert_closed_and_reopened_within_the_week_is_not_counted_closed(week, people, settings):
    a4 = week["a4"]  # created and acknowledged on Wednesday
    _then(a4, alert_close, MONDAY + 3 * DAY + 9 * HOUR, by=people.analyst, reason="false_positive")
    _then(a4, alert_reopen, MONDAY + 4 * DAY, by=people.analyst)
    client = ui.client_for(people.analyst)

    response = client.get("/review/", {"week": "2026-W47"})
    page = response.content.decode()
    assert '<span class="value" id="closed">6</span>' in page
    assert '<span class="value" id="fp-rate">67%</span>' in page
    assert '<tr><td>False positive</td><td class="num">4</td></tr>' in page
    review = response.context["week"]
    assert review.time_to_close.count == 5  # a4 was not closed at the end of the week
    networks = {group.as_organization: group.count for group in review.fp_by_network}
    assert networks["Example Office Networks"] == 1  # a7 alone
    row = _csv_rows(client, "2026-W47")[a4.pk]
    assert (row["status"], row["close_reason"], row["closed_at"]) == ("open", "", "")
    message = _digest(settings, MONDAY.date())
    assert message.subject.endswith(": 6 alerts, 6 closed, false positives 67%")
    assert "Alerts closed: 6\n" in message.body and "  False positive: 4\n" in message.body


def test_an_alert_reopened_before_its_first_24_hours_passed_was_not_closed_within_them(
    week, people
):
    a2 = week["a2"]  # created Monday 12:00, closed as a false positive at 14:00
    _then(a2, alert_reopen, MONDAY + 20 * HOUR, by=people.analyst)
    _then(a2, alert_close, MONDAY + 2 * DAY, by=people.analyst, reason="true_positive")

    review = ui.client_for(people.analyst).get("/review/", {"week": "2026-W47"}).context["week"]

    assert [a.pk for a in review.open_after_24h] == [a2.pk, week["a3"].pk, week["a4"].pk]
    assert review.closed == 6 and review.false_positive_rate == pytest.approx(3 / 6)
    close = review.time_to_close  # 1 h, 3 h, 5 h, 30 h, and a2's 36 h to its second close
    assert (close.count, close.median, close.p90) == (5, 5 * HOUR, 36 * HOUR)


def test_an_alert_closed_in_the_week_and_reopened_later_counts_closed_in_it(week, people, settings):
    a4 = week["a4"]
    closed_at = MONDAY + 3 * DAY + 9 * HOUR
    _then(a4, alert_close, closed_at, by=people.analyst, reason="false_positive")
    _then(a4, alert_reopen, MONDAY + 8 * DAY, by=people.analyst)  # in 2026-W48
    client = ui.client_for(people.analyst)

    response = client.get("/review/", {"week": "2026-W47"})
    page = response.content.decode()
    assert '<span class="value" id="closed">7</span>' in page
    assert '<span class="value" id="fp-rate">71%</span>' in page
    per_day = dict(response.context["week"].per_day)
    assert per_day[date(2026, 11, 18)] == {"false_positive": 1}
    row = _csv_rows(client, "2026-W47")[a4.pk]
    assert (row["status"], row["close_reason"], row["closed_at"]) == (
        "closed",
        "false_positive",
        closed_at.isoformat(),
    )
    message = _digest(settings, MONDAY.date())
    assert message.subject.endswith(": 6 alerts, 7 closed, false positives 71%")


# ------------------------------------------------- exclusions expire when their expiry passes


@pytest.fixture
def clock():
    """The clock of the app (and of the rows it writes) at Tuesday 10:00 of 2026-W48."""
    with mock.patch("django.utils.timezone.now", return_value=TUESDAY_AFTER) as now:
        yield now


@pytest.fixture
def expiries(clock) -> dict[str, Exclusion]:
    lapsed = exclusions.exclusion_create(
        by="cli:sam", reason="lapsed on Monday", as_number=64995, expires_at=MONDAY + 7 * DAY
    )
    soon = exclusions.exclusion_create(
        by="cli:sam", reason="ends on Sunday", as_number=64996, expires_at=TUESDAY_AFTER + 5 * DAY
    )
    return {"lapsed": lapsed, "soon": soon}


def _expired_and_expiring(page: str) -> tuple[str, str]:
    expired, rest = page.split("<h3>Expired</h3>")[1].split("<h3>Expiring in the next 14 days</h3>")
    return expired, rest.split("</section>")[0]


def test_an_exclusion_expiring_later_in_the_week_is_expiring_not_expired(
    expiries, people, settings, clock
):
    lapsed, soon = expiries["lapsed"].pk, expiries["soon"].pk
    client = ui.client_for(people.analyst)

    page = client.get("/review/", {"week": "2026-W48"}).content.decode()
    expired, expiring = _expired_and_expiring(page)
    assert f">#{lapsed}</a>" in expired and f">#{soon}</a>" not in expired
    assert f">#{soon}</a> ends on Sunday" in expiring and "expires in 5\xa0days" in expiring
    assert "This week is in progress" in page and 'rel="next"' not in page
    body = _digest(settings, date(2026, 11, 23)).body
    assert "Allowlist: 2 added, 0 changed, 1 expired; 1 expiring in the next 14 days." in body
    assert f"  #{soon} expires in 5\xa0days (2026-11-29 10:00 UTC): ends on Sunday" in body

    clock.return_value = TUESDAY_AFTER + 7 * DAY  # the week has ended, and so has the exclusion
    page = ui.client_for(people.analyst).get("/review/", {"week": "2026-W48"}).content.decode()
    expired, expiring = _expired_and_expiring(page)
    assert f">#{lapsed}</a>" in expired and f">#{soon}</a>" in expired
    assert f">#{soon}</a>" not in expiring


# ------------------------------------------------------------------ the week parameter


@pytest.mark.parametrize("url", ["/review/", "/review/alerts.csv"])
@pytest.mark.parametrize(
    ("week", "problem"),
    [
        ("9999-W52", "9999-W52 has not begun; the latest week is "),
        ("0001-W01", "0001-W01 is before 2000-W01"),
        ("2027-W53", "2027 has no week 53"),
        ("2026-W49", "2026-W49 has not begun; the latest week is 2026-W48"),
        ("²⁰²⁶-W47", "is not an ISO week such as 2026-W47"),
        ("2026-W47\x00", "Null characters are not allowed."),
    ],
)
def test_it_answers_400_with_the_layout_for_a_week_it_cannot_review(
    people, clock, url, week, problem
):
    response = ui.client_for(people.analyst).get(url, {"week": week})

    assert response.status_code == 400
    assert response["Content-Type"] == "text/html; charset=utf-8"
    page = response.content.decode()
    assert '<nav aria-label="Main">' in page
    assert problem in page
