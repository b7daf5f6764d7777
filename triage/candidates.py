"""The rule's query, on one event and in SQL: which events are its candidates.

The detector evaluates candidates; the allowlist's impact preview counts them.
Both read this module, and it reads neither.
"""

from django.db.models import Q

from ingest.models import Event
from triage import rule


def is_candidate(event: Event) -> bool:
    """The rule's query on one event: case-sensitive, and missing fields never match."""
    return (
        event.provider == rule.PROVIDER
        and event.action.startswith(rule.ACTION_PREFIX)
        and event.outcome == rule.OUTCOME
        and event.invoked_by is None
        and bool(event.as_organization)
        and not event.as_organization.startswith(rule.EXCLUDED_ORGANIZATION_PREFIXES)
        and bool(event.account_id)
        and bool(event.user_name)
    )


def candidates_q() -> Q:
    """What SQL can narrow before is_candidate decides (prefixes are checked in Python)."""
    return Q(
        provider=rule.PROVIDER,
        invoked_by__isnull=True,
        outcome=rule.OUTCOME,
        as_organization__isnull=False,
        account_id__isnull=False,
        user_name__isnull=False,
    )


def candidate_events_q() -> Q:
    """The whole of is_candidate in SQL, for counts over many events (the impact preview).

    Prefixes are case-sensitive in SQL as in Python (startswith is LIKE, not ILIKE).
    """
    excluded_organizations = Q()
    for prefix in rule.EXCLUDED_ORGANIZATION_PREFIXES:
        excluded_organizations |= Q(as_organization__startswith=prefix)
    return (
        candidates_q()
        & Q(action__startswith=rule.ACTION_PREFIX)
        & ~Q(as_organization="")
        & ~Q(account_id="")
        & ~Q(user_name="")
        & ~excluded_organizations
    )
