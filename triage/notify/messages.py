"""What a notification says, in each channel's form: plain text, HTML, chat, JSON.

Function names, user names, user agents and organisation names are chosen by
whoever made the call, so each value is escaped for the channel it goes to:
Django's autoescaping for HTML, neutralised markup and mentions for chat, and
one line per value in plain text so that a value cannot forge another line.
"""

import re
from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse

from triage import rule
from triage.documents import alert_document
from triage.models import Alert
from triage.notify.senders import Message
from triage.users import zones

SUMMARY_LISTED = 20
MAX_VALUE_CHARS = 300
# Markdown (Slack mrkdwn, Teams, Discord, Telegram) and table characters: shown, not obeyed.
_MARKUP = re.compile(r"([\\`*_~|\[\]()#])")


def one_line(value: Any) -> str:
    """value as one line of bounded length: a newline in a value cannot start a new field."""
    text = " ".join(str("" if value is None else value).split())
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def chat_text(value: Any) -> str:
    """A value shown literally in chat: no markup, links, or @here/@everyone/<!channel> mentions."""
    text = one_line(value)
    # Slack and Teams read &, < and > as markup (<!channel>, <url|label>); their entities show the
    # characters themselves.
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MARKUP.sub(r"\\\1", text)
    # A zero-width space after @ keeps @here, @everyone and @user from notifying anyone.
    return text.replace("@", "@\u200b")


def alert_url(alert: Alert) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("alert", args=[alert.pk])


def alert_facts(alert: Alert, zone: tzinfo = UTC) -> list[tuple[str, Any]]:
    """What an analyst needs to decide whether to look now, in the order they read it.

    The event time is in zone and names it: UTC for destinations, which have no user,
    the recipient's own zone for an assignment e-mail.
    """
    event = alert.event
    geo = event.geo or {}
    parameters = event.request_parameters
    function = parameters.get("functionName") if isinstance(parameters, dict) else None
    country = " ".join(
        part for part in (geo.get("country_name"), geo.get("country_iso_code")) if part
    )
    return [
        ("Rule", rule.NAME),
        ("Reason", alert.reason),
        ("Event time", zones.zoned_text(alert.original_time, "second", zone)),
        ("Principal", alert.user_name),
        ("Account", alert.account_id),
        ("Network", alert.as_organization or "(no organisation)"),
        ("AS number", f"AS{alert.as_number}" if alert.as_number is not None else "unknown"),
        ("Source IP", event.source_ip or event.source_address),
        ("Country", country or "unknown"),
        ("Function", function),
        ("User agent", event.user_agent),
        ("Events in episode", alert.event_count),
        ("Alert", alert_url(alert)),
    ]


def _timestamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def webhook_body(*, event_type: str, at: datetime, data: Any) -> dict[str, Any]:
    return {"type": event_type, "timestamp": _timestamp(at), "data": data}


def alert_message(alert: Alert, *, at: datetime, event_type: str = "alert.created") -> Message:
    """An alert.created message, or alert.updated once episode events joined the alert."""
    facts = alert_facts(alert)
    network = one_line(alert.as_organization) or f"AS{alert.as_number}"
    what = "new events for the alert" if event_type == "alert.updated" else "new alert"
    title = f"asnwatch: {what} for {one_line(alert.user_name)} from {network}"
    intro = (
        "New events joined an alert in asnwatch."
        if event_type == "alert.updated"
        else "A new alert in asnwatch."
    )
    return Message(
        subject=one_line(title),
        text=render_to_string(
            "notify/alert.txt",
            {"intro": intro, "facts": [(label, one_line(value)) for label, value in facts]},
        ),
        html=render_to_string(
            "notify/alert.html", {"intro": intro, "facts": facts, "url": alert_url(alert)}
        ),
        chat_title=chat_text(title),
        # The link is ours (SITE_URL), not the caller's: it stays clickable.
        chat_body="\n".join(
            f"{label}: {value if label == 'Alert' else chat_text(value)}" for label, value in facts
        ),
        body=webhook_body(event_type=event_type, at=at, data=alert_document(alert)),
    )


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'s' if count != 1 else ''}"


def _listed(alerts: Sequence[Alert]) -> tuple[list[tuple[str, str]], int]:
    """The first SUMMARY_LISTED alerts as (line, link), and how many more there are."""
    lines = [
        (
            f"{one_line(alert.user_name)} ({one_line(alert.account_id)}) from "
            f"{one_line(alert.as_organization) or 'no organisation'} AS{alert.as_number}",
            alert_url(alert),
        )
        for alert in alerts[:SUMMARY_LISTED]
    ]
    return lines, len(alerts) - len(lines)


def summary_message(
    alerts: Sequence[Alert], *, at: datetime, updated: Sequence[Alert] = ()
) -> Message:
    """One message for a run's new alerts, and the alerts episode events joined (updated).

    The webhook body's data lists the new alerts; "updated" is there only when
    some alerts are listed for their new events.
    """
    sections = []
    if alerts or not updated:
        sections.append(("New alerts", *_listed(alerts)))
    if updated:
        sections.append(("New events for earlier alerts", *_listed(updated)))
    parts = [_plural(len(alerts), "new alert")] if alerts or not updated else []
    if updated:
        parts.append(f"new events for {_plural(len(updated), 'alert')}")
    title = "asnwatch: " + " and ".join(parts)
    context = {"sections": sections, "title": title}
    chat_lines = []
    for heading, lines, more in sections:
        if len(sections) > 1:
            chat_lines.append(f"{heading}:")
        chat_lines += (f"{chat_text(text)}: {url}" for text, url in lines)
        if more:
            chat_lines.append(f"and {more} more")
    body = webhook_body(
        event_type="alerts.summary", at=at, data=[alert_document(alert) for alert in alerts]
    )
    if updated:
        body["updated"] = [alert_document(alert) for alert in updated]
    return Message(
        subject=title,
        text=render_to_string("notify/summary.txt", context),
        html=render_to_string("notify/summary.html", context),
        chat_title=chat_text(title),
        chat_body="\n".join(chat_lines),
        body=body,
    )


def assignment_message(*, alert: Alert, assigner: str, zone: tzinfo = UTC) -> Message:
    """To the user assigner assigned alert: its facts (times in zone, the recipient's) and
    who it was; each value escaped."""
    facts = [("Assigned by", assigner), *alert_facts(alert, zone)]
    network = one_line(alert.as_organization) or f"AS{alert.as_number}"
    # one_line keeps attacker text from adding header lines to the subject.
    subject = one_line(
        f"asnwatch: {assigner} assigned you the alert for {alert.user_name} from {network}"
    )
    text = render_to_string(
        "triage/assignment_email.txt",
        {"facts": [(label, one_line(value)) for label, value in facts]},
    )
    html = render_to_string(
        "triage/assignment_email.html", {"facts": facts, "url": alert_url(alert)}
    )
    return Message(subject=subject, text=text, html=html, chat_title=subject, chat_body=text)


def test_message(*, destination_name: str, at: datetime) -> Message:
    title = f"asnwatch: test message for {one_line(destination_name)}"
    text = "This destination receives asnwatch's alerts. Nothing needs doing."
    return Message(
        subject=title,
        text=text + "\n",
        html=render_to_string("notify/test.html", {"title": title, "text": text}),
        chat_title=chat_text(title),
        chat_body=text,
        body=webhook_body(event_type="test", at=at, data={"destination": destination_name}),
    )
