"""The alert list grouped by principal, network or account (Kibana's "group alerts by").

A page of groups is one GROUP BY over the alerts the list's filters match, in
the order of each group's newest alert (the group that received the latest
alert first), keyset-paginated on that alert's id: an alert belongs to exactly
one group, so the id is a unique, stable position. The GROUP BY covers at most
the newest GROUP_SCAN_CAP matching alerts, so a page costs the same with
100,000 alerts as with 1,000 (the page says when older ones were left out).
One more query fetches every group's first alerts (a window function), and one
names the assignees of all of them.

A group's bulk action acts on the group's alerts under the same filters, up to
the newest alert the page showed for it: an alert that arrives after the page
was drawn is never changed by a click made before it arrived. Closing many
asks first, and so does any action when the group no longer holds the number
of alerts the page showed (one was reopened, or acknowledged by someone else);
the confirmation is bound to the exact alerts it counted (a digest of their
ids), so if the group changes again before the click, it asks again.
"""

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Case, Count, F, IntegerField, Max, Q, QuerySet, Value, When, Window
from django.db.models.functions import RowNumber

from triage import selectors
from triage.models import Alert
from triage.selectors import SORTS, AlertFilters

GROUP_CHOICES = [
    ("", "None"),
    ("principal", "Principal"),
    ("network", "Network"),
    ("account", "Account"),
]
# The alert columns that make a group's key.
GROUP_KEYS: dict[str, tuple[str, ...]] = {
    "principal": ("account_id", "user_name"),
    "network": ("as_organization", "as_number"),
    "account": ("account_id",),
}
# The list's filter that selects each key column: a group's link to all its alerts,
# and the fields of its "Take action" form.
FILTER_NAMES = {"account_id": "account", "user_name": "principal", "as_organization": "org",
                "as_number": "asn"}  # fmt: skip
GROUP_PAGE_SIZE = 20
# The groups cover the newest this many alerts the filters match, so a page is one
# GROUP BY over at most this many rows whatever the filters; past it, the page says so.
GROUP_SCAN_CAP = 10_000
# The alerts shown inside an expanded group; a link leads to all of them.
GROUP_PREVIEW = 5
# A group action changes at most this many alerts (each is its own audited change).
GROUP_ACTION_LIMIT = 1000

SEVERITIES = ("low", "medium", "high", "critical")
_SEVERITY_RANK = Case(
    *[When(severity=name, then=Value(rank)) for rank, name in enumerate(SEVERITIES)],
    default=Value(-1),
    output_field=IntegerField(),
)


@dataclass
class AlertGroup:
    by: str
    key: dict[str, object]  # column → value, as in GROUP_KEYS[by]
    newest_id: int
    count: int
    open_count: int
    severity: str
    last_seen: datetime
    unassigned: int
    assignee_count: int = 0
    assignees: list[str] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)

    @property
    def label(self) -> str:
        return group_label(self.by, self.key)

    @property
    def more_assignees(self) -> int:
        return self.assignee_count - len(self.assignees)

    @property
    def list_filters(self) -> dict[str, object]:
        """The list's own filters that select this group (its link to all its alerts)."""
        return {FILTER_NAMES[column]: value for column, value in self.key.items()}


@dataclass
class GroupPage:
    by: str
    groups: list[AlertGroup]
    next_cursor: str | None
    first_page: bool
    # The groups cover only the newest GROUP_SCAN_CAP matching alerts: more match.
    capped: bool = False

    @property
    def cap(self) -> str:
        return f"{GROUP_SCAN_CAP:,}"

    # A group's alerts show the key columns the grouping does not already say.
    @property
    def show_principal(self) -> bool:
        return self.by != "principal"

    @property
    def show_network(self) -> bool:
        return self.by != "network"


def group_label(by: str, key: dict[str, object]) -> str:
    """The group in words: "alice (111122223333)", "Evil VPS Ltd (AS64500)", "account 1111…"."""
    if by == "principal":
        return f"{key['user_name']} ({key['account_id']})"
    if by == "network":
        number = key["as_number"]
        organization = key["as_organization"]
        return f"{organization} (AS{number})" if number is not None else f"{organization}"
    return f"account {key['account_id']}"


def _in_group(key: dict[str, object]) -> Q:
    """The alerts with this key (an alert without an AS number has none to match)."""
    lookups = {}
    for column, value in key.items():
        if value is None:
            lookups[f"{column}__isnull"] = True
        else:
            lookups[column] = value
    return Q(**lookups)


def _cursor(after: str | None) -> int | None:
    if after and after.isascii() and after.isdigit():
        return int(after)
    return None


def _window(filters: AlertFilters) -> tuple[QuerySet[Alert], bool]:
    """The alerts the groups cover: the newest GROUP_SCAN_CAP the filters match, and
    whether older ones were left out."""
    alerts = selectors.alerts_filtered(filters)
    edge = list(
        alerts.order_by("-id").values_list("id", flat=True)[GROUP_SCAN_CAP - 1 : GROUP_SCAN_CAP + 1]
    )
    if len(edge) < 2:
        return alerts, False
    return alerts.filter(id__gte=edge[0]), True


def alert_groups(*, filters: AlertFilters, by: str, after: str | None = None) -> GroupPage | None:
    """One page of groups of the alerts `filters` match, or None when `by` groups nothing."""
    if by not in GROUP_KEYS:
        return None
    columns = GROUP_KEYS[by]
    window, capped = _window(filters)
    rows = (
        window.order_by()
        .values(*columns)
        .annotate(
            newest_id=Max("id"),
            count=Count("id"),
            open_count=Count("id", filter=Q(status=Alert.Status.OPEN)),
            severity_rank=Max(_SEVERITY_RANK),
            last_seen=Max("original_time"),
            unassigned=Count("id", filter=Q(assignee__isnull=True)),
        )
        .order_by("-newest_id")
    )
    position = _cursor(after)
    if position is not None:
        rows = rows.filter(newest_id__lt=position)
    found = list(rows[: GROUP_PAGE_SIZE + 1])
    groups = [
        AlertGroup(
            by=by,
            key={column: row[column] for column in columns},
            newest_id=row["newest_id"],
            count=row["count"],
            open_count=row["open_count"],
            severity=SEVERITIES[row["severity_rank"]] if row["severity_rank"] >= 0 else "",
            last_seen=row["last_seen"],
            unassigned=row["unassigned"],
        )
        for row in found[:GROUP_PAGE_SIZE]
    ]
    _add_assignees(groups, window)
    _add_previews(groups, window, sort=filters.sort)
    more = len(found) > GROUP_PAGE_SIZE
    return GroupPage(
        by=by,
        groups=groups,
        next_cursor=str(groups[-1].newest_id) if more else None,
        first_page=position is None,
        capped=capped,
    )


def _either(groups: list[AlertGroup]) -> Q:
    either = Q()
    for group in groups:
        either |= _in_group(group.key)
    return either


# Names shown per group; beyond them the page says how many more.
ASSIGNEES_SHOWN = 3


def _add_assignees(groups: list[AlertGroup], window: QuerySet[Alert]) -> None:
    """Who the groups' alerts are assigned to: one query for the whole page."""
    wanted = [group for group in groups if group.count > group.unassigned]
    if not wanted:
        return
    columns = GROUP_KEYS[wanted[0].by]
    pairs = (
        window.filter(_either(wanted), assignee__isnull=False)
        .order_by()
        .values_list(*columns, "assignee__username")
        .distinct()
    )
    names: dict[tuple, list[str]] = {}
    for *key, username in pairs:
        names.setdefault(tuple(key), []).append(username)
    for group in wanted:
        everyone = sorted(names.get(tuple(group.key.values()), []))
        group.assignees = everyone[:ASSIGNEES_SHOWN]
        group.assignee_count = len(everyone)


def _add_previews(groups: list[AlertGroup], window: QuerySet[Alert], *, sort: str) -> None:
    """Each group's first GROUP_PREVIEW alerts in the list's order: one query for the page."""
    if not groups:
        return
    column, descending = SORTS.get(sort, SORTS[selectors.DEFAULT_SORT])
    order = [F(column).desc(), F("id").desc()] if descending else [F(column).asc(), F("id").asc()]
    columns = GROUP_KEYS[groups[0].by]
    alerts = (
        window.filter(_either(groups))
        .annotate(place=Window(RowNumber(), partition_by=[F(c) for c in columns], order_by=order))
        .filter(place__lte=GROUP_PREVIEW)
        .select_related("assignee")
        .order_by(*order)
    )
    previews: dict[tuple, list[Alert]] = {}
    for alert in alerts:
        previews.setdefault(tuple(getattr(alert, c) for c in columns), []).append(alert)
    for group in groups:
        group.alerts = previews.get(tuple(group.key.values()), [])


def group_alerts(*, filters: AlertFilters, key: dict[str, object], upto: int) -> QuerySet[Alert]:
    """The alerts of one group under the list's filters, none newer than alert `upto`.

    The group's key narrows the filters, never replaces them: a key outside
    the filters selects nothing.
    """
    return selectors.alerts_filtered(filters).filter(_in_group(key), id__lte=upto)


def group_action_ids(*, filters: AlertFilters, key: dict[str, object], upto: int) -> list[int]:
    """The ids a group action would change, oldest first, up to one past GROUP_ACTION_LIMIT."""
    alerts = group_alerts(filters=filters, key=key, upto=upto).order_by("id")
    return list(alerts.values_list("id", flat=True)[: GROUP_ACTION_LIMIT + 1])
