"""The sign-in throttle: failed sign-ins counted in the database, before the password
is checked, per client address, per account, and per account from one address.

An attempt is refused without checking its password when, within the window
(LOGIN_FAILURE_WINDOW_MINUTES from a counter's first failure):
- its address has LOGIN_ADDRESS_FAILURE_LIMIT failures, whatever the user names;
- its user name has LOGIN_FAILURE_LIMIT failures from its address;
- its user name has LOGIN_ACCOUNT_FAILURE_LIMIT failures from all addresses and its
  address has a failure of its own. An address without failures is still checked,
  so an attacker elsewhere cannot lock the real user out, while every further guess
  at the account needs an address that has not failed yet in the window.

Counting is one INSERT … ON CONFLICT DO UPDATE … RETURNING (PostgreSQL, SQLite 3.35+)
in autocommit: of N parallel attempts against a limit L at most L see a count within
the limit, so at most L passwords are checked. An attempt whose password was right,
or that was refused unchecked, gives its count back.

django-axes (8.3) was considered and not used: it checks the lock before the password
and records the failure after it, so parallel attempts all pass the check (its issue
592, closed as a known issue it will not fix), and its lockout parameters cannot
spare an address without failures from an account's lock.
"""

import ipaddress
import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import F, Max
from django.http import HttpRequest
from django.utils import timezone

from signin.models import SignInCounter

# Requests without a usable address (no request, a malformed header) share one count.
UNKNOWN_ADDRESS = "unknown"

# The three counters of one attempt, passed in key order: parallel attempts then lock
# the rows they share in the same order and cannot deadlock.
_COUNT = """
INSERT INTO signin_counter ("key", failures, expires_at)
VALUES (%s, 1, %s), (%s, 1, %s), (%s, 1, %s)
ON CONFLICT ("key") DO UPDATE SET
    failures = CASE WHEN signin_counter.expires_at <= %s THEN 1
                    ELSE signin_counter.failures + 1 END,
    expires_at = CASE WHEN signin_counter.expires_at <= %s THEN excluded.expires_at
                      ELSE signin_counter.expires_at END
RETURNING "key", failures
"""


@dataclass(frozen=True)
class Attempt:
    """A sign-in attempt as counted; `refusal` says why its password is not checked."""

    address_key: str
    account_key: str
    pair_key: str
    refusal: str | None


def client_address(request: HttpRequest | None) -> str:
    """The client's address as the throttle counts it.

    Behind the proxy (BEHIND_HTTPS_PROXY) it is the last X-Forwarded-For entry, the
    one the proxy appended: entries before it are whatever the client sent. IPv6
    addresses count by /64, the block one subscriber usually holds.
    """
    if request is None:
        return UNKNOWN_ADDRESS
    value = request.META.get("REMOTE_ADDR", "")
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if settings.BEHIND_HTTPS_PROXY and forwarded:
        value = forwarded.rsplit(",", 1)[-1].strip()
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return UNKNOWN_ADDRESS
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def attempt_start(*, username: str, address: str) -> Attempt:
    """Count an attempt to sign in as `username` from `address`, before its password."""
    name = username.strip().lower()[:150]
    # "|" never occurs in a kind or an address, so no user name can forge another key.
    attempt = Attempt(
        address_key=f"address|{address}|",
        account_key=f"account||{name}",
        pair_key=f"account-address|{address}|{name}",
        refusal=None,
    )
    now = timezone.now()
    SignInCounter.objects.filter(expires_at__lte=now).delete()
    counts = _count(attempt, now=now)
    from_address = counts[attempt.address_key]
    limits = [
        (
            attempt.address_key,
            from_address > settings.LOGIN_ADDRESS_FAILURE_LIMIT,
            "Too many failed sign-ins from your address.",
        ),
        (
            attempt.pair_key,
            counts[attempt.pair_key] > settings.LOGIN_FAILURE_LIMIT,
            "Too many failed sign-ins for this user name from your address.",
        ),
        (
            attempt.account_key,
            # A count of 1 is this attempt alone: an address without failures is spared.
            counts[attempt.account_key] > settings.LOGIN_ACCOUNT_FAILURE_LIMIT and from_address > 1,
            "Too many failed sign-ins for this user name from several addresses.",
        ),
    ]
    exceeded = [(key, reason) for key, over, reason in limits if over]
    if not exceeded:
        return attempt
    _give_back(attempt.address_key, attempt.account_key, attempt.pair_key)
    minutes = _minutes_left([key for key, _ in exceeded], now=now)
    wait = f"Wait {minutes} minute{'s' if minutes != 1 else ''} and try again."
    return replace(attempt, refusal=f"{exceeded[0][1]} {wait}")


def attempt_succeeded(attempt: Attempt) -> None:
    """The password was right: the attempt is no failure, and earlier typos are forgiven."""
    _give_back(attempt.address_key, attempt.account_key)
    SignInCounter.objects.filter(key=attempt.pair_key).delete()


def _count(attempt: Attempt, *, now: datetime) -> dict[str, int]:
    adapt = connection.ops.adapt_datetimefield_value
    expires_at = adapt(now + timedelta(minutes=settings.LOGIN_FAILURE_WINDOW_MINUTES))
    keys = sorted([attempt.address_key, attempt.account_key, attempt.pair_key])
    with connection.cursor() as cursor:
        cursor.execute(
            _COUNT, [value for key in keys for value in (key, expires_at)] + [adapt(now)] * 2
        )
        return dict(cursor.fetchall())


def _give_back(*keys: str) -> None:
    # One row a statement: holding no other row lock, it cannot join a deadlock.
    for key in sorted(keys):
        SignInCounter.objects.filter(key=key, failures__gt=0).update(failures=F("failures") - 1)


def _minutes_left(keys: list[str], *, now: datetime) -> int:
    until = SignInCounter.objects.filter(key__in=keys).aggregate(until=Max("expires_at"))["until"]
    seconds = (until - now).total_seconds() if until else 60
    return max(1, math.ceil(seconds / 60))
