"""Changing destinations (with audit rows), filling the outbox, and emptying it.

The outbox: `deliveries_enqueue_for_alerts` writes one Delivery row per message
inside the caller's transaction, so an alert and the rows announcing it commit
together. `notify_due` sends what is due: each row is claimed with a
conditional UPDATE that leases it to one worker, so two workers never send it
at once, and a worker killed mid-send leaves a lease that lapses and a row
that is sent again later with the same webhook-id (at least once).
"""

import base64
import json
import random
import re
import secrets
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.db import connection, transaction
from django.db.models import Exists, F, Max, OuterRef, Q
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from triage.models import Alert, DetectionRun
from triage.notify import messages, senders
from triage.notify.models import Delivery, DeliveryAttempt, Destination, DestinationChange
from triage.notify.sealed import Unreadable
from triage.patterns import pattern_regex
from triage.users import zones

INTEGRATIONS_ADMIN = "integrations-admin"
# A signed-in user (checked for the integrations-admin role) or, at the shell,
# a string naming the operator, whom shell access already trusts.
Author = AbstractBaseUser | str

FIRST_RETRY = timedelta(minutes=1)
LONGEST_RETRY = timedelta(hours=6)
# 1, 2, 4 … 256 minutes, then 6 hours twice: about 20 hours of tries, then failed.
MAX_ATTEMPTS = 12
# How long a claimed row stays a worker's: longer than one send can take.
LEASE = timedelta(seconds=senders.CONNECT_TIMEOUT + senders.READ_TIMEOUT + 60)
# Messages sent at once in one notify_due, across destinations, each at its own
# pace; to one destination, at most LANES at once (a throttled one: one).
PARALLEL_SENDS = 8
LANES = 4
PER_DESTINATION_LIMIT = 200
# A pass stops claiming after this long, well inside the task's soft time limit.
PASS_BUDGET_SECONDS = 120
# What an audit row says of a secret (or an Apprise URL) that changed.
CHANGED = "changed"
NAMESPACE = uuid.UUID("0b9c6f0e-5a43-4c0e-9f5e-0e3c8e0a7d11")


def user_can_change_destinations(user: Any) -> bool:
    if not user.is_authenticated or not user.is_active:
        return False
    return user.is_superuser or user.groups.filter(name=INTEGRATIONS_ADMIN).exists()


def _author(by: Author) -> str:
    if isinstance(by, str):
        if not by.strip():
            raise ValidationError("A change to a destination needs an author.")
        return by.strip()
    if not user_can_change_destinations(by):
        raise PermissionDenied("Only integrations admins change destinations.")
    return by.get_username()


def masked_target(destination: Destination) -> str:
    """The target as anyone may see it: URLs hold tokens (an Apprise service's, or a
    receiver's in its path or query), so only a webhook's host and an Apprise scheme show."""
    if destination.kind == Destination.Kind.APPRISE:
        scheme = destination.target.split("://", 1)[0]
        return f"{scheme}://…"
    if destination.kind == Destination.Kind.WEBHOOK:
        parts = urlsplit(destination.target)
        rest = "…" if parts.path.strip("/") or parts.query else ""
        return f"{parts.scheme}://{parts.netloc}/{rest}"
    return destination.target


def snapshot(destination: Destination) -> dict[str, Any]:
    """A destination's settings for its audit rows, without any secret in clear."""
    return {
        "name": destination.name,
        "kind": destination.kind,
        "target": masked_target(destination),
        "secret": "set" if destination.secret else "",
        "mode": destination.mode,
        "throttle_minutes": destination.throttle_minutes,
        "accounts": list(destination.accounts),
        "user_names": list(destination.user_names),
        "as_organizations": list(destination.as_organizations),
        "as_numbers": list(destination.as_numbers),
        "report_joined": destination.report_joined,
        "enabled": destination.enabled,
    }


def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _validate(destination: Destination) -> None:
    problems = [
        f"the saved {name} cannot be decrypted (was SECRET_KEY changed without putting the "
        "old one in SECRET_KEY_FALLBACKS?): enter it again"
        for name, value in (("URL", destination.target), ("secret", destination.secret))
        if isinstance(value, Unreadable)
    ]
    if problems:
        raise ValidationError(problems)
    if not destination.name.strip():
        problems.append("a destination needs a name")
    if destination.kind not in Destination.Kind.values:
        problems.append(f"kind must be one of {', '.join(Destination.Kind.values)}")
    if destination.mode not in Destination.Mode.values:
        problems.append(f"mode must be one of {', '.join(Destination.Mode.values)}")
    if destination.kind == Destination.Kind.EMAIL:
        addresses = email_addresses(destination)
        if not addresses:
            problems.append("an e-mail destination needs at least one address")
        for address in addresses:
            try:
                validate_email(address)
            except ValidationError:
                problems.append(f"not an e-mail address: {address!r}")
    elif destination.kind == Destination.Kind.WEBHOOK:
        problem = senders.webhook_url_problem(destination.target)
        if problem:
            problems.append(problem)
        try:
            secret = Webhook(destination.secret)._whsecret
        except Exception:  # the library raises bare binascii and value errors alike
            secret = b""
        if not destination.secret.startswith("whsec_") or not 24 <= len(secret) <= 64:
            problems.append("the secret is whsec_ followed by 24 to 64 bytes in base64")
    elif destination.kind == Destination.Kind.APPRISE and "://" not in destination.target:
        problems.append("an Apprise URL looks like slack://… or json://host/path")
    for pattern in destination.as_organizations:
        if not pattern.strip():
            problems.append("an organisation pattern cannot be empty")
    if problems:
        raise ValidationError(problems)


def email_addresses(destination: Destination) -> list[str]:
    return [part.strip() for part in destination.target.split(",") if part.strip()]


def destination_create(
    *, by: Author, name: str, kind: str, target: str, **options: Any
) -> Destination:
    """A new destination; a webhook without a secret gets one (see the command's output)."""
    by = _author(by)
    destination = Destination(
        name=name.strip(), kind=kind, target=target.strip(), created_by=by, **options
    )
    if destination.kind == Destination.Kind.WEBHOOK and not destination.secret:
        destination.secret = new_webhook_secret()
    _validate(destination)
    with transaction.atomic():
        if Destination.objects.filter(name=destination.name).exists():
            raise ValidationError(f"a destination named {destination.name!r} exists already")
        destination.save()
        DestinationChange.objects.create(
            destination=destination, action="created", changed_by=by, after=snapshot(destination)
        )
    return destination


def destination_update(*, destination: Destination, by: Author, **changes: Any) -> Destination:
    """Change a destination's settings, with an audit row; a new secret is recorded as "changed"."""
    by = _author(by)
    allowed = set(snapshot(destination)) - {"kind"}
    unknown = set(changes) - allowed
    if unknown:
        raise TypeError(f"not a destination setting: {', '.join(sorted(unknown))}")
    with transaction.atomic():
        destination = Destination.objects.select_for_update().get(pk=destination.pk)
        before = snapshot(destination)
        old_secret, old_target = destination.secret, destination.target
        for name, value in changes.items():
            setattr(destination, name, value.strip() if isinstance(value, str) else value)
        # Switching a destination on or off needs no check of the rest: a destination
        # whose secret is lost can still be disabled or removed.
        if set(changes) != {"enabled"}:
            _validate(destination)
        after = snapshot(destination)
        if destination.secret != old_secret:
            after["secret"] = CHANGED
        if destination.target != old_target and after["target"] == before["target"]:
            after["target"] = CHANGED  # a new URL behind the same mask
        if after == before:
            return destination
        action = (
            ("enabled" if destination.enabled else "disabled")
            if set(changes) == {"enabled"}
            else "changed"
        )
        DestinationChange.objects.create(
            destination=destination, action=action, changed_by=by, before=before, after=after
        )
        destination.save()
    return destination


def destination_disable(*, destination: Destination, by: Author) -> Destination:
    return destination_update(destination=destination, by=by, enabled=False)


def destination_matches(destination: Destination, alert: Alert) -> bool:
    """Whether alert passes the destination's filters (each list empty or holding a match)."""
    if destination.accounts and alert.account_id not in destination.accounts:
        return False
    if destination.user_names and alert.user_name not in destination.user_names:
        return False
    if destination.as_numbers and alert.as_number not in destination.as_numbers:
        return False
    if destination.as_organizations:
        patterns = [
            re.compile(pattern_regex(p), re.IGNORECASE) for p in destination.as_organizations
        ]
        if not any(pattern.match(alert.as_organization or "") for pattern in patterns):
            return False
    return True


def stable_webhook_id(*parts: Any) -> str:
    """The webhook-id of the message parts name: the same whenever it is made again."""
    return "msg_" + uuid.uuid5(NAMESPACE, ":".join(str(part) for part in parts)).hex


def deliveries_enqueue_for_alerts(
    *, alerts: Sequence[Alert], joined: Sequence[Alert] = (), run: DetectionRun | None = None
) -> list[int]:
    """Outbox rows announcing new alerts to every enabled destination whose filters they pass,
    and, to destinations that report joined alerts, the alerts episode events joined (joined).

    Call it in the transaction that creates the alerts: the rows commit with them.
    An alert already announced to a destination is not announced again; a joined
    alert is announced once per run (run is required with joined). Returns the
    ids of the rows written.
    """
    if joined and run is None:
        raise ValueError("joined alerts are announced per detector run: pass the run")
    now = timezone.now()
    rows: list[tuple[int, int, str, str]] = []  # (destination, alert, event type, webhook-id)
    created = []
    with transaction.atomic():
        for destination in Destination.objects.filter(enabled=True).order_by("id"):
            matching = [alert for alert in alerts if destination_matches(destination, alert)]
            updated = (
                [alert for alert in joined if destination_matches(destination, alert)]
                if destination.report_joined
                else []
            )
            if not matching and not updated:
                continue
            if destination.mode == Destination.Mode.EACH:
                rows += _alert_rows(destination, matching, Delivery.EventType.ALERT_CREATED)
                if updated:
                    rows += _alert_rows(
                        destination, updated, Delivery.EventType.ALERT_UPDATED, f"run-{run.pk}"
                    )
            else:
                key = (
                    f"run-{run.pk}"
                    if run
                    else f"alerts-{min(a.pk for a in matching)}-{len(matching)}"
                )
                summary, made = Delivery.objects.get_or_create(
                    webhook_id=stable_webhook_id(
                        destination.pk, key, Delivery.EventType.ALERTS_SUMMARY
                    ),
                    defaults={
                        "destination": destination,
                        "event_type": Delivery.EventType.ALERTS_SUMMARY,
                        "run": run,
                        "next_attempt_at": now,
                        "created_at": now,
                    },
                )
                if made:
                    # One insert each: the summary is new, so none of its alerts is listed yet.
                    summary.summary_alerts.through.objects.bulk_create(
                        Delivery.summary_alerts.through(delivery=summary, alert=alert)
                        for alert in matching
                    )
                    summary.summary_updated.through.objects.bulk_create(
                        Delivery.summary_updated.through(delivery=summary, alert=alert)
                        for alert in updated
                    )
                    created.append(summary.pk)
        if rows:
            created += _insert_alert_messages(rows, run=run, now=now)
    return created


def _alert_rows(
    destination: Destination, alerts: Sequence[Alert], event_type: str, *key: str
) -> list[tuple[int, int, str, str]]:
    return [
        (
            destination.pk,
            alert.pk,
            event_type,
            stable_webhook_id(destination.pk, alert.pk, event_type, *key),
        )
        for alert in alerts
    ]


def _insert_alert_messages(
    rows: list[tuple[int, int, str, str]], *, run: DetectionRun | None, now: datetime
) -> list[int]:
    """One row per (destination, alert, event type, webhook-id), in one statement.

    The detector calls this inside its run: building a model instance per row
    (bulk_create) cost more than PostgreSQL spends storing them.
    """
    destinations, alert_ids, event_types, webhook_ids = zip(*rows, strict=True)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {Delivery._meta.db_table} (
                destination_id, event_type, alert_id, run_id, webhook_id, status, attempts,
                next_attempt_at, claimed_by, last_error, assigned_by, created_at
            )
            SELECT m.destination_id, m.event_type, m.alert_id, %s, m.webhook_id, %s, 0, %s,
                '', '', '', %s
            FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::text[])
                AS m(destination_id, alert_id, event_type, webhook_id)
            ON CONFLICT DO NOTHING
            RETURNING id
            """,  # noqa: S608 — the table name is the model's, every value a parameter
            [
                run.pk if run else None,
                Delivery.Status.PENDING.value,
                now,
                now,
                list(destinations),
                list(alert_ids),
                list(event_types),
                list(webhook_ids),
            ],
        )
        return [pk for (pk,) in cursor.fetchall()]


@dataclass
class Outcome:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    held: int = 0

    def add(self, other: "Outcome") -> None:
        self.delivered += other.delivered
        self.retrying += other.retrying
        self.failed += other.failed
        self.held += other.held

    def summary(self) -> str:
        line = f"{self.delivered} delivered, {self.retrying} to retry, {self.failed} failed"
        return line + (f", {self.held} held back by a throttle" if self.held else "")


def destination_test(*, destination: Destination, by: Author) -> Delivery:
    """Send a test message now, once; the returned row says whether it arrived."""
    _author(by)
    now = timezone.now()
    delivery = Delivery.objects.create(
        destination=destination,
        event_type=Delivery.EventType.TEST,
        webhook_id="msg_" + uuid.uuid4().hex,
        next_attempt_at=now,
        created_at=now,
    )
    worker = f"test-{uuid.uuid4().hex[:8]}"
    if _claim(delivery.pk, now=now, worker=worker):
        _send(
            Delivery.objects.select_related("destination").get(pk=delivery.pk),
            now=now,
            worker=worker,
        )
    delivery.refresh_from_db()
    return delivery


def _due(now: datetime) -> Q:
    return Q(
        status__in=[Delivery.Status.PENDING, Delivery.Status.SENDING], next_attempt_at__lte=now
    )


def _claim(pk: int, *, now: datetime, worker: str) -> bool:
    """Lease one due row to worker; False when another worker took it first."""
    until = now + LEASE
    claimed = Delivery.objects.filter(_due(now), pk=pk).update(
        status=Delivery.Status.SENDING,
        claimed_by=worker,
        claimed_until=until,
        next_attempt_at=until,
        # Counted at the claim: a message that kills its worker each time still runs out of tries.
        attempts=F("attempts") + 1,
    )
    return claimed == 1


def _claim_next(destination_id: int | None, *, now: datetime, worker: str) -> int | None:
    """Lease the next due row of a destination to worker; None when none is left.

    Rows another lane is claiming this moment are skipped (SKIP LOCKED), so lanes
    take different rows rather than racing for the same one.
    """
    # An alert's news waits until the message announcing the alert has gone.
    announcing = Delivery.objects.filter(
        destination_id=OuterRef("destination_id"),
        alert_id=OuterRef("alert_id"),
        event_type=Delivery.EventType.ALERT_CREATED,
        status__in=[Delivery.Status.PENDING, Delivery.Status.SENDING],
    )
    with transaction.atomic():
        candidate = (
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(_due(now), destination_id=destination_id)
            .exclude(Q(event_type=Delivery.EventType.ALERT_UPDATED) & Exists(announcing))
            .order_by("next_attempt_at", "id")
            .values_list("pk", flat=True)
            .first()
        )
        if candidate is None or not _claim(candidate, now=now, worker=worker):
            return None
        return candidate


def notify_due(*, now: datetime, worker: str) -> Outcome:
    """Send every delivery due at now; each destination at its own pace, side by side."""
    # A disabled destination's messages wait: they go out if it is enabled again.
    # Assignment e-mails (no destination) go out side by side, as one more destination.
    destinations = list(
        Delivery.objects.filter(_due(now))
        .filter(Q(destination__enabled=True) | Q(destination__isnull=True))
        .values_list("destination_id", flat=True)
        .distinct()
    )
    total = Outcome()
    if not destinations:
        return total
    # Every destination's first lane before any second one: each starts at once.
    lanes = [(pk, lane) for lane in range(LANES) for pk in destinations]
    with ThreadPoolExecutor(max_workers=min(PARALLEL_SENDS, len(lanes))) as pool:
        for outcome in pool.map(
            lambda job: _notify_destination(job[0], lane=job[1], now=now, worker=worker), lanes
        ):
            total.add(outcome)
    return total


def _throttle_opens_at(destination: Destination) -> datetime | None:
    """When a throttled destination may be sent its next message: its last one plus the throttle."""
    last = (
        DeliveryAttempt.objects.filter(delivery__destination=destination, outcome="delivered")
        .exclude(delivery__event_type=Delivery.EventType.TEST)
        .aggregate(last=Max("at"))["last"]
    )
    return last + timedelta(minutes=destination.throttle_minutes) if last else None


def _summarise_held(destination: Destination, *, now: datetime) -> None:
    """Fold the alert messages a throttle held back into one summary, due now.

    Rows are locked (SKIP LOCKED) while they are folded in, so a worker claiming
    one of them at the same moment finds it summarised and leaves it.
    """
    with transaction.atomic():
        held = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(
                _due(now),
                destination=destination,
                status=Delivery.Status.PENDING,
                attempts=0,
                event_type__in=[
                    Delivery.EventType.ALERT_CREATED,
                    Delivery.EventType.ALERT_UPDATED,
                    Delivery.EventType.ALERTS_SUMMARY,
                ],
            )
            .order_by("id")
        )
        if len(held) < 2:
            return
        alert_ids = {
            row.alert_id for row in held if row.event_type == Delivery.EventType.ALERT_CREATED
        }
        updated_ids = {
            row.alert_id for row in held if row.event_type == Delivery.EventType.ALERT_UPDATED
        }
        for row in held:
            alert_ids.update(row.summary_alerts.values_list("pk", flat=True))
            updated_ids.update(row.summary_updated.values_list("pk", flat=True))
        summary = Delivery.objects.create(
            destination=destination,
            event_type=Delivery.EventType.ALERTS_SUMMARY,
            webhook_id=stable_webhook_id(destination.pk, "held", *(row.pk for row in held)),
            next_attempt_at=now,
            created_at=now,
        )
        summary.summary_alerts.set(alert_ids)
        # An alert both new and joined since is listed once, as new: its events are counted there.
        summary.summary_updated.set(updated_ids - alert_ids)
        Delivery.objects.filter(pk__in=[row.pk for row in held]).update(
            status=Delivery.Status.SUMMARISED, summarised_in=summary
        )


def _notify_destination(
    destination_id: int | None, *, lane: int, now: datetime, worker: str
) -> Outcome:
    """Send what is due to one destination, or (None) the assignment e-mails due.

    Its lanes run this side by side, each claiming the next due row, so a slow
    receiver has up to LANES messages in flight; a throttled destination, one.
    """
    outcome = Outcome()
    try:
        destination = Destination.objects.get(pk=destination_id) if destination_id else None
        throttled = destination is not None and destination.throttle_minutes > 0
        if throttled and lane > 0:
            return outcome
        if throttled:
            opens_at = _throttle_opens_at(destination)
            if opens_at is not None and now < opens_at:
                outcome.held = Delivery.objects.filter(_due(now), destination=destination).count()
                return outcome
            _summarise_held(destination, now=now)
        started = time.monotonic()
        # A throttled destination gets at most one message a pass: the throttle closes behind it.
        for _ in range(1 if throttled else PER_DESTINATION_LIMIT // LANES):
            if time.monotonic() - started > PASS_BUDGET_SECONDS:
                break  # the next pass, a minute later, goes on
            candidate = _claim_next(destination_id, now=now, worker=worker)
            if candidate is None:
                break
            delivery = Delivery.objects.select_related("destination", "recipient").get(pk=candidate)
            status = _send(delivery, now=now, worker=worker)
            if status == Delivery.Status.DELIVERED:
                outcome.delivered += 1
            elif status == Delivery.Status.FAILED:
                outcome.failed += 1
            else:
                outcome.retrying += 1
    finally:
        # Each thread has its own database connection: give it back.
        connection.close()
    return outcome


def message_for(delivery: Delivery) -> senders.Message:
    at = delivery.created_at
    if delivery.event_type in (Delivery.EventType.ALERT_CREATED, Delivery.EventType.ALERT_UPDATED):
        alert = Alert.objects.select_related("event").get(pk=delivery.alert_id)
        return messages.alert_message(alert, at=at, event_type=delivery.event_type)
    if delivery.event_type == Delivery.EventType.ALERTS_SUMMARY:
        order = ("created_at", "id")
        alerts = list(delivery.summary_alerts.select_related("event").order_by(*order))
        updated = list(delivery.summary_updated.select_related("event").order_by(*order))
        return messages.summary_message(alerts, updated=updated, at=at)
    if delivery.event_type == Delivery.EventType.ALERT_ASSIGNED:
        alert = Alert.objects.select_related("event").get(pk=delivery.alert_id)
        # In the recipient's zone, as their pages show times.
        zone = zones.zone_of(zones.user_zone_name(delivery.recipient))
        return messages.assignment_message(alert=alert, assigner=delivery.assigned_by, zone=zone)
    return messages.test_message(destination_name=delivery.destination.name, at=at)


def _deliver(destination: Destination | None, delivery: Delivery, message: senders.Message) -> int:
    if destination is not None and any(
        isinstance(value, Unreadable) for value in (destination.target, destination.secret)
    ):
        raise senders.SendError(
            "the destination's URL or secret cannot be decrypted with SECRET_KEY or "
            "SECRET_KEY_FALLBACKS: enter it again",
            retry=False,
        )
    if destination is None:
        # Read now, not when queued: a user who changed their address is mailed at the new one.
        address = (delivery.recipient.email or "").strip()
        if not address:
            raise senders.SendError(
                f"{delivery.recipient.get_username()} has no e-mail address", retry=False
            )
        return senders.send_email(to=[address], message=message)
    if destination.kind == Destination.Kind.EMAIL:
        return senders.send_email(to=email_addresses(destination), message=message)
    if destination.kind == Destination.Kind.WEBHOOK:
        payload = json.dumps(message.body, ensure_ascii=False).encode()
        return senders.send_webhook(
            url=destination.target,
            secret=destination.secret,
            webhook_id=delivery.webhook_id,
            payload=payload,
        )
    return senders.send_apprise(url=destination.target, message=message)


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff from a minute to six hours, with jitter so retries do not bunch."""
    base = FIRST_RETRY * 2 ** min(attempts - 1, 16)
    jittered = base * random.uniform(0.8, 1.2)  # noqa: S311 — jitter, not a secret
    return max(FIRST_RETRY, min(jittered, LONGEST_RETRY))


def _send(delivery: Delivery, *, now: datetime, worker: str) -> str:
    """Send one claimed row, record the try, and settle the row: delivered, retry or failed."""
    started = time.monotonic()
    failure = None
    try:
        status_code = _deliver(delivery.destination, delivery, message_for(delivery))
    except senders.SendError as refused:
        failure, status_code = refused, refused.status_code
    error = str(failure) if failure else ""
    duration_ms = int((time.monotonic() - started) * 1000)
    last_try = delivery.event_type == Delivery.EventType.TEST or delivery.attempts >= MAX_ATTEMPTS
    if not error:
        status, next_at = Delivery.Status.DELIVERED, now
    elif failure.retry and not last_try:
        status = Delivery.Status.PENDING
        wait = failure.retry_after
        next_at = now + (
            min(wait, LONGEST_RETRY) if wait is not None else retry_delay(delivery.attempts)
        )
    else:
        status, next_at = Delivery.Status.FAILED, now
    with transaction.atomic():
        DeliveryAttempt.objects.create(
            delivery=delivery,
            at=now,
            duration_ms=duration_ms,
            status_code=status_code,
            error=error,
            outcome={"pending": "retry"}.get(status, status),
        )
        # Settled only while the lease is still this worker's: past it, another worker owns the row.
        Delivery.objects.filter(
            pk=delivery.pk, claimed_by=worker, status=Delivery.Status.SENDING
        ).update(
            status=status,
            next_attempt_at=next_at,
            claimed_by="",
            claimed_until=None,
            last_error=error,
            delivered_at=now if not error else None,
        )
    return status
