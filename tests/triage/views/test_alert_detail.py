"""/alerts/<id>/: the rule, highlighted fields, each step's evidence, remediation, the record."""

import html
import json
import re
import shlex
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from tests.cloudtrail import iam_user_identity, invoke_record, run_ingest_files, write_log
from tests.triage import ui
from triage import rule
from triage.models import ChecklistStep
from triage.selectors import function_display_name

pytestmark = pytest.mark.django_db


def page(client, alert) -> str:
    response = client.get(f"/alerts/{alert.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def section(text: str, step: str) -> str:
    """The HTML of one investigation step."""
    start = text.index(f'id="step-{step}"')
    end = text.find('<li class="step"', start)
    return text[start:end]


def test_it_shows_the_rule_and_the_reason(story, client):
    text = page(client, story.alice)

    assert html.escape(rule.NAME) in text
    assert rule.RULE_ID in text
    assert "T1648 Serverless Execution" in text
    assert html.escape(story.alice.reason) in text
    assert "risk 47" in text


def test_it_highlights_the_rules_investigation_fields(story, client):
    text = page(client, story.alice)

    for name in rule.INVESTIGATION_FIELDS:
        assert f'<dt class="mono">{name}</dt>' in text
    assert "AKIAEXAMPLEKEY000001" in text
    assert "Netherlands" in text  # source.geo.country_name


def test_it_shows_the_invoking_network_beside_the_principals_history(story, client):
    network = section(page(client, story.alice), "network")

    assert "203.0.113.10" in network
    assert "AS64500" in network
    assert "Amsterdam, Netherlands (NL)" in network
    assert "new · this alert" in network
    assert "Example Office Networks" in network  # where alice usually works from
    assert '<svg class="timeline"' in network
    assert network.count('fill="#c4320a"') >= 1  # this alert's network, in red


def test_it_shows_the_request_and_how_often_the_function_was_invoked_before(story, client):
    request = section(page(client, story.alice), "request")

    assert "billing-export" in request
    assert "aws-cli/2.15.0" in request
    assert re.search(r"invoked <span class=\"mono\">billing-export</span> 6 times", request)
    assert "Example Office Networks" in request


def test_it_counts_a_function_named_by_arn_and_by_name_as_one(story, settings, client):
    alice = iam_user_identity()
    when = timezone.now() - timedelta(hours=3)
    bare = invoke_record(when=when, source_ip=ui.OFFICE, identity=alice)
    bare["requestParameters"] = {"functionName": "billing-export"}
    with tempfile.TemporaryDirectory() as folder:
        run_ingest_files(write_log(Path(folder) / "bare.json", [bare]))

    request = section(page(client, story.alice), "request")

    assert "billing-export</span> 7 times" in request


def test_it_says_when_a_function_was_never_invoked_before(story, client):
    request = section(page(client, story.role), "request")

    assert "a first-time invocation" in request


def test_it_shows_every_network_the_credential_was_used_from(story, client):
    credential = section(page(client, story.alice), "credential")

    assert "This key was used outside AWS networks, from 2 networks." in credential
    assert credential.count("outside AWS</span>") == 2


def test_it_says_a_role_key_used_outside_aws_was_most_likely_stolen(story, client):
    credential = section(page(client, story.role), "credential")

    assert "ASIAEXAMPLESESSION01" in credential
    assert "AMAZON-02" in credential
    assert "temporary credentials of an assumed role" in credential


def test_it_correlates_the_principals_other_activity_from_the_network(story, client):
    activity = section(page(client, story.alice), "activity")

    actions = re.findall(r'<td class="mono nowrap">([^<]+)</td>', activity)
    assert actions == ["ListFunctions20150331", "Invoke", "GetCallerIdentity"]  # newest first
    assert "this alert</span>" in activity


def test_it_shows_each_steps_state(story, client):
    ChecklistStep.objects.create(
        alert=story.alice, step="credential", done=True, note="key is alice's", updated_by=None
    )

    text = page(client, story.alice)

    assert "1 of 4 done" in text
    assert "key is alice&#x27;s" in section(text, "credential")


def test_it_offers_commands_for_an_iam_users_key(story, client):
    text = page(client, story.alice)

    assert (
        "aws iam update-access-key --user-name alice "
        "--access-key-id AKIAEXAMPLEKEY000001 --status Inactive"
    ) in text
    assert "aws lambda remove-permission --function-name" in text


def test_it_offers_to_revoke_an_assumed_roles_sessions(story, client):
    text = html.unescape(page(client, story.role))

    command = re.search(r"aws iam put-role-policy [^\n<]+", text).group(0)
    arguments = shlex.split(command)
    policy = json.loads(arguments[arguments.index("--policy-document") + 1])
    assert arguments[arguments.index("--role-name") + 1] == "billing-fn-role"
    condition = policy["Statement"][0]["Condition"]["DateLessThan"]["aws:TokenIssueTime"]
    assert condition.startswith(timezone.now().strftime("%Y-%m-%dT"))
    assert "update-access-key" not in text


def test_it_shell_quotes_hostile_values_in_commands(story, client):
    text = page(client, story.role)

    escaped = re.search(r"<code>(aws lambda get-policy .*?)</code>", text).group(1)
    arguments = shlex.split(html.unescape(escaped))
    assert arguments[arguments.index("--function-name") + 1] == ui.hostile_function_arn()


def test_it_shows_the_raw_record(story, client):
    text = page(client, story.alice)

    assert "&quot;eventName&quot;: &quot;Invoke&quot;" in text
    assert "&quot;eventID&quot;: &quot;alice-attack&quot;" in text


def test_it_shows_hostile_fields_as_text_everywhere_on_the_page(story, client):
    text = page(client, story.role)

    ui.assert_inert(text, ui.ESCAPED_ORG, ui.ESCAPED_UA, ui.ESCAPED_FUNCTION)
    chart = text[text.index('<svg class="timeline"') : text.index("</svg>")]
    ui.assert_inert(chart, "AS64666 &lt;script&gt;alert(&quot;org&quot;)")


def test_it_answers_404_for_an_unknown_alert(story, client):
    assert client.get("/alerts/999999/").status_code == 404


def test_it_reads_a_bounded_number_of_queries(story, client, django_assert_max_num_queries):
    with django_assert_max_num_queries(20):
        page(client, story.alice)


@pytest.mark.parametrize(
    ("value", "name"),
    [
        ("arn:aws:lambda:eu-west-1:111122223333:function:billing-export", "billing-export"),
        ("arn:aws:lambda:eu-west-1:111122223333:function:billing-export:PROD", "billing-export"),
        ("111122223333:function:billing-export", "billing-export"),
        ("billing-export", "billing-export"),
        ("billing-export:7", "billing-export"),
        ("", None),
        (None, None),
        ({"nested": 1}, None),
    ],
)
def test_it_reads_the_function_name_from_an_arn_or_a_name(value, name):
    assert function_display_name(value) == name


def test_it_counts_the_keys_use_by_aws_services_apart(story, client):
    alice = iam_user_identity()
    internal = invoke_record(
        when=timezone.now() - timedelta(hours=1), identity=alice, sourceIPAddress="AWS Internal"
    )
    with tempfile.TemporaryDirectory() as folder:
        run_ingest_files(write_log(Path(folder) / "internal.json", [internal]))

    credential = section(page(client, story.alice), "credential")

    assert "no AS (AWS service or internal)" in credential
    assert "This key was used outside AWS networks, from 2 networks." in credential
