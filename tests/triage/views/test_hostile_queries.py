"""Hostile values thrown at every parameter a page reads: whatever arrives, no page answers 500.

Hypothesis draws what attackers and broken links send (NUL bytes, lone
surrogates, digits that are not ASCII, numbers no column holds, far dates, text
longer than any stored field) into the query and form parameters of each view,
and into the ids in their paths. A page may answer 200, a redirect, 400 or 404.
"""

from collections.abc import Callable
from urllib.parse import quote

import pytest
from django.test import Client
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.triage import ui
from tests.triage.allowlist import form_data
from triage.allowlist import services as exclusions
from triage.models import Alert, Exclusion

pytestmark = pytest.mark.django_db
ANSWERS = {200, 302, 400, 404}
EXAMPLES = settings(max_examples=25, deadline=None, database=None)

# Values that have broken pages, or would: NUL, lone surrogates, digits int() refuses or that
# are not ASCII, numbers beyond any column, far dates and cursors, text beyond any stored field.
TROUBLEMAKERS = [
    "", " ", "\x00", "a\x00b", "\ud800", "x\udfffy", "²", "١٢", "\U0001d7d7", "Ⅻ", "-1", "0",
    "1e999", "NaN", "AS64500", "%", "_", "\\", "'", "me", "unassigned", "on", "true",
    "9999-12-31", "0001-01-01", "10000-01-01", "2026-02-30", "9999-W52", "0001-W01",
    "9999-12-31T23:59:59-01:00_1", "0001-01-01T00:00:00+01:00_1", "x" * 9000, "é" * 8193,
    "//attacker.example/", "javascript:alert(1)", "2026-01-01T00:00:00",
]  # fmt: skip
ANYTHING = st.one_of(
    st.integers(min_value=-(2**80), max_value=2**80).map(str),
    st.dates().map(str),
    st.tuples(st.datetimes().map(str), st.integers(-(2**70), 2**70).map(str)).map("_".join),
    st.text(max_size=30),
)
HOSTILE = st.one_of(st.sampled_from(TROUBLEMAKERS), ANYTHING)


def encoded(pairs: dict[str, list[str]]) -> str:
    # Lone surrogates cannot be UTF-8; they are sent as the bytes a broken client would send.
    return "&".join(
        f"{quote(name)}={quote(value.encode('utf-8', 'surrogatepass'), safe='')}"
        for name, values in pairs.items()
        for value in values
    )


def hostile(names: list[str]) -> Callable:
    """Every troublemaker in every parameter at once, then what Hypothesis draws for some."""

    def decorate(check: Callable) -> Callable:
        drawn = st.dictionaries(st.sampled_from(names), st.lists(HOSTILE, min_size=1, max_size=2))
        check = EXAMPLES(given(drawn)(check))
        for value in TROUBLEMAKERS:
            check = example({name: [value] for name in names})(check)
        return check

    return decorate


@pytest.fixture
def superuser(people) -> Client:
    return ui.client_for(people.superuser)


@pytest.fixture
def office() -> Exclusion:
    return exclusions.exclusion_create(
        by="cli:sam", reason="headquarters", as_organization="Example Office*"
    )


def assert_answered(response, what: str) -> None:
    assert response.status_code in ANSWERS, f"{what} answered {response.status_code}"


ALERT_LIST = [
    "status", "severity", "range", "since", "until", "account", "principal", "org", "assignee",
    "q", "sort", "after",
]  # fmt: skip
QUERY_PAGES: dict[str, list[str]] = {
    "/alerts/": ALERT_LIST,
    "/principals/": ["account", "user"],
    "/networks/": ["org", "asn"],
    "/events/": ["before"],
    "/exclusions/new/": ["alert", "principal", "org", "asn", "account", "user"],
    # Pages that read no parameter ignore whatever is sent.
    "/exclusions/": ["q", "page"],
    "/sources/": ["q", "page"],
}


@pytest.mark.parametrize("page", QUERY_PAGES)
def test_no_query_parameter_makes_a_page_fail(story, superuser, page):
    @hostile(QUERY_PAGES[page])
    def check(query):
        url = f"{page}?{encoded(query)}"
        assert_answered(superuser.get(url), url)

    check()


EXCLUSION_FIELDS = [
    "as_number", "as_organization", "account_id", "user_name", "reason", "expires_on",
    "never_expires", "previewed", "action",
]  # fmt: skip


def _forms(story, office) -> dict[str, tuple[str, dict[str, str], list[str]]]:
    """Each form: where it posts, valid values to start from, the fields made hostile."""
    alice = story.alice.pk
    reason = Alert.CloseReason.values[0]
    exclusion = {**form_data(as_organization="Evil*"), "action": "preview"}
    return {
        "bulk": (
            "/alerts/bulk/",
            {"action": "acknowledge", "alerts": str(alice)},
            ["action", "alerts", "assignee", "reason", "comment", "confirm", "next"],
        ),
        "assign": (f"/alerts/{alice}/assign/", {"assignee": "me"}, ["assignee"]),
        "close": (f"/alerts/{alice}/close/", {"reason": reason}, ["reason", "comment"]),
        "reopen": (f"/alerts/{alice}/reopen/", {}, ["comment"]),
        "note": (f"/alerts/{alice}/notes/", {"text": "seen"}, ["text"]),
        "checklist": (f"/alerts/{alice}/checklist/network/", {"done": "on"}, ["done", "note"]),
        "new exclusion": (
            "/exclusions/new/",
            exclusion,
            [*EXCLUSION_FIELDS, "alert", "close_alert", "close_matching"],
        ),
        "exclusion edit": (f"/exclusions/{office.pk}/edit/", exclusion, EXCLUSION_FIELDS),
    }


FORMS = ["bulk", "assign", "close", "reopen", "note", "checklist", "new exclusion"]


@pytest.mark.parametrize("name", [*FORMS, "exclusion edit"])
def test_no_form_field_makes_an_action_fail(story, superuser, office, name):
    url, valid, fields = _forms(story, office)[name]

    @hostile(fields)
    def check(values):
        body = encoded({**{field: [value] for field, value in valid.items()}, **values})
        response = superuser.post(url, body, content_type="application/x-www-form-urlencoded")
        assert_answered(response, f"POST {url} {body[:200]}")

    check()


PATHS: dict[str, Callable[[str], str]] = {
    "alert": lambda n: f"/alerts/{n}/",
    "exclusion": lambda n: f"/exclusions/{n}/",
    "exclusion edit": lambda n: f"/exclusions/{n}/edit/",
}


@pytest.mark.parametrize("name", PATHS)
def test_no_id_in_a_path_makes_a_page_fail(story, superuser, name):
    @EXAMPLES
    @given(st.integers(min_value=0, max_value=2**80))
    def check(number):
        url = PATHS[name](number)
        assert_answered(superuser.get(url), url)

    check()


@pytest.mark.parametrize("action", ["acknowledge", "reopen", "disable", "enable"])
def test_no_id_in_a_path_makes_an_action_fail(story, superuser, action):
    noun = "exclusions" if action in ("disable", "enable") else "alerts"

    @EXAMPLES
    @given(st.integers(min_value=0, max_value=2**80))
    def check(number):
        url = f"/{noun}/{number}/{action}/"
        assert_answered(superuser.post(url), f"POST {url}")

    check()


def test_no_checklist_step_name_makes_the_checklist_fail(story, superuser):
    @EXAMPLES
    @given(st.from_regex(r"[-a-zA-Z0-9_]{1,300}", fullmatch=True))
    def check(step):
        url = f"/alerts/{story.alice.pk}/checklist/{step}/"
        assert_answered(superuser.post(url, {"done": "on"}), f"POST {url}")

    check()
