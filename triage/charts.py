"""Small charts drawn on the server as SVG: they need no JavaScript and pass the CSP.

Every text in a chart (organisation names above all) comes from the ASN
database or CloudTrail and is escaped here; numbers are formatted by Python.
Colours are presentation attributes, which the CSP's style-src does not cover.
"""

import math
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from triage.selectors import NetworkUse

WIDTH = 760
LABEL_WIDTH = 250
RIGHT_PAD = 14
AXIS_HEIGHT = 34
ROW_HEIGHT = 20
MAX_ROWS = 12
LABEL_CHARS = 30

COLOURS = {"alert": "#c4320a", "aws": "#8a94a6", "other": "#1f5fbf"}


def _label(network: NetworkUse) -> str:
    organisation = network.as_organization or "no organisation"
    text = f"AS{network.as_number} {organisation}"
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"


def _kind(network: NetworkUse) -> str:
    if network.is_alert_network:
        return "alert"
    return "aws" if network.is_aws else "other"


def network_timeline_svg(
    *,
    networks: Sequence[NetworkUse],
    start: date,
    end: date,
    marker: datetime | None = None,
    title: str = "Networks used per day",
) -> SafeString:
    """One row per network, one cell per day with events; the alert's network in red.

    A cell's opacity grows with the log of that day's events, so one event
    still shows and a busy day does not drown the rest.
    """
    rows = list(networks)[:MAX_ROWS]
    if not rows or end < start:
        return mark_safe("")
    days = (end - start).days + 1
    cell = (WIDTH - LABEL_WIDTH - RIGHT_PAD) / days
    height = AXIS_HEIGHT + ROW_HEIGHT * len(rows) + 6
    busiest = max((count for row in rows for count in row.days.values()), default=1)
    scale = math.log(busiest + 1)

    parts = [
        f'<svg class="timeline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    # The days are UTC days, as the principal-network history counts them: the axis says so.
    parts.append(
        f'<text x="{LABEL_WIDTH - 8}" y="13" font-size="11" text-anchor="end" '
        'fill="#5b6575">days in UTC</text>'
    )
    # Weekly grid lines and dates.
    for offset in range(0, days, 7):
        x = LABEL_WIDTH + offset * cell
        day = start + timedelta(days=offset)
        parts.append(
            f'<line x1="{x:.1f}" y1="4" x2="{x:.1f}" y2="{height - 4}" '
            'stroke="#dfe3ea" stroke-width="1"/>'
            f'<text x="{x + 3:.1f}" y="13" font-size="11" fill="#5b6575">{day:%b %d}</text>'
        )
    for index, network in enumerate(rows):
        y = AXIS_HEIGHT + index * ROW_HEIGHT
        kind = _kind(network)
        if index % 2 == 0:
            parts.append(
                f'<rect x="0" y="{y}" width="{WIDTH}" height="{ROW_HEIGHT}" fill="#f5f7fa"/>'
            )
        weight = ' font-weight="700"' if kind == "alert" else ""
        full = f"AS{network.as_number} {network.as_organization or 'no organisation'}"
        parts.append(
            f'<text x="{LABEL_WIDTH - 8}" y="{y + 14}" font-size="11.5" text-anchor="end" '
            f'fill="{COLOURS[kind] if kind == "alert" else "#1d2430"}"{weight}>'
            f"<title>{escape(full)}</title>{escape(_label(network))}</text>"
        )
        for day, count in sorted(network.days.items()):
            if not start <= day <= end or count <= 0:
                continue
            x = LABEL_WIDTH + (day - start).days * cell
            opacity = 0.3 + 0.7 * (math.log(count + 1) / scale if scale else 1)
            parts.append(
                f'<rect x="{x + 0.5:.1f}" y="{y + 4}" width="{max(cell - 1, 1):.1f}" '
                f'height="{ROW_HEIGHT - 8}" rx="2" fill="{COLOURS[kind]}" '
                f'fill-opacity="{opacity:.2f}"><title>{escape(full)} · {day:%Y-%m-%d} UTC: '
                f"{count:,} event{'s' if count != 1 else ''}</title></rect>"
            )
    if marker is not None:
        marker_day = marker.astimezone(UTC).date()
        if start <= marker_day <= end:
            seconds = (marker.astimezone(UTC) - datetime.combine(marker_day, time(), UTC)).seconds
            x = LABEL_WIDTH + ((marker_day - start).days + seconds / 86400) * cell
            # The label sits under the dates, left of the line when the line is at the far right.
            anchor, offset = ("end", -3) if x > WIDTH - 60 else ("start", 3)
            parts.append(
                f'<line x1="{x:.1f}" y1="{AXIS_HEIGHT - 12}" x2="{x:.1f}" y2="{height - 2}" '
                f'stroke="{COLOURS["alert"]}" stroke-width="1.5" stroke-dasharray="3 2"/>'
                f'<text x="{x + offset:.1f}" y="{AXIS_HEIGHT - 4}" font-size="10.5" '
                f'font-weight="700" text-anchor="{anchor}" fill="{COLOURS["alert"]}">alert</text>'
            )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above is escaped


BAR_CHART_HEIGHT = 220
BAR_LABEL_CHARS = 18


def stacked_bars_svg(
    *,
    bars: Sequence[tuple[str, dict[str, int]]],
    series: Sequence[tuple[str, str, str]],
    title: str,
    axis: str = "",
) -> SafeString:
    """Vertical stacked bars, one per label: `series` is (key, legend label, colour); `axis`
    names the labels' axis ("days in UTC"), top right.

    Labels may be organisation names: escaped, and shortened (the full text
    stays in each bar's tooltip).
    """
    if not bars:
        return mark_safe("")
    top = max((sum(counts.values()) for _, counts in bars), default=0) or 1
    left, bottom, legend = 36, 40, 36
    plot_height = BAR_CHART_HEIGHT - bottom - legend
    slot = (WIDTH - left - RIGHT_PAD) / len(bars)
    bar = min(slot * 0.6, 60)
    parts = [
        f'<svg class="bars" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} '
        f'{BAR_CHART_HEIGHT}" width="{WIDTH}" height="{BAR_CHART_HEIGHT}" role="img" '
        f'aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    for step in range(3):
        value = math.ceil(top * step / 2)
        y = legend + plot_height - plot_height * value / top
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{WIDTH - RIGHT_PAD}" y2="{y:.1f}" '
            'stroke="#dfe3ea" stroke-width="1"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="10.5" text-anchor="end" '
            f'fill="#5b6575">{value}</text>'
        )
    x = left + 8
    for _key, label, colour in series:
        parts.append(
            f'<rect x="{x}" y="4" width="10" height="10" rx="2" fill="{colour}"/>'
            f'<text x="{x + 14}" y="13" font-size="11" fill="#1d2430">{escape(label)}</text>'
        )
        x += 24 + 7 * len(label)
    if axis:
        parts.append(
            f'<text x="{WIDTH - RIGHT_PAD}" y="13" font-size="11" text-anchor="end" '
            f'fill="#5b6575">{escape(axis)}</text>'
        )
    for index, (name, counts) in enumerate(bars):
        x = left + index * slot + (slot - bar) / 2
        y = legend + plot_height
        total = sum(counts.values())
        for key, label, colour in series:
            count = counts.get(key, 0)
            if count <= 0:
                continue
            height = plot_height * count / top
            y -= height
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{height:.1f}" '
                f'fill="{colour}"><title>{escape(name)}: {count} {escape(label)}</title></rect>'
            )
        if total:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{y - 4:.1f}" font-size="10.5" '
                f'text-anchor="middle" fill="#1d2430">{total}</text>'
            )
        short = name if len(name) <= BAR_LABEL_CHARS else name[: BAR_LABEL_CHARS - 1] + "…"
        parts.append(
            f'<text x="{x + bar / 2:.1f}" y="{legend + plot_height + 16}" font-size="11" '
            f'text-anchor="middle" fill="#1d2430"><title>{escape(name)}</title>'
            f"{escape(short)}</text>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above is escaped


NARROW_WIDTH = 360
NARROW_LABEL_WIDTH = 112
NARROW_ROW_HEIGHT = 26
NARROW_LABEL_CHARS = 16


def horizontal_bars_svg(
    *,
    bars: Sequence[tuple[str, dict[str, int]]],
    series: Sequence[tuple[str, str, str]],
    title: str,
    axis: str = "",
) -> SafeString:
    """The same figures as stacked_bars_svg, one row per label, for a phone's width; `axis`
    is written under the rows.

    Drawn 360 units wide so that on a 390 px screen its text keeps its size
    (vertical bars squeezed to that width would shrink it to a few pixels).
    """
    if not bars:
        return mark_safe("")
    top = max((sum(counts.values()) for _, counts in bars), default=0) or 1
    # The legend wraps onto as many lines as it needs.
    keys, x, line = [], 4.0, 0
    for _key, label, colour in series:
        width = 22 + 6.5 * len(label)
        if x > 4 and x + width > NARROW_WIDTH:
            x, line = 4.0, line + 1
        keys.append(
            f'<rect x="{x:.1f}" y="{4 + 17 * line}" width="10" height="10" rx="2" '
            f'fill="{colour}"/><text x="{x + 14:.1f}" y="{13 + 17 * line}" font-size="11.5" '
            f'fill="#1d2430">{escape(label)}</text>'
        )
        x += width
    legend = 24 + 17 * line
    plot = NARROW_WIDTH - NARROW_LABEL_WIDTH - 34
    height = legend + NARROW_ROW_HEIGHT * len(bars) + (20 if axis else 4)
    parts = [
        f'<svg class="bars narrow-bars" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 '
        f'{NARROW_WIDTH} {height}" width="{NARROW_WIDTH}" height="{height}" role="img" '
        f'aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        *keys,
    ]
    for index, (name, counts) in enumerate(bars):
        y = legend + index * NARROW_ROW_HEIGHT
        short = name if len(name) <= NARROW_LABEL_CHARS else name[: NARROW_LABEL_CHARS - 1] + "…"
        parts.append(
            f'<text x="{NARROW_LABEL_WIDTH - 6}" y="{y + 16}" font-size="12" text-anchor="end" '
            f'fill="#1d2430"><title>{escape(name)}</title>{escape(short)}</text>'
        )
        left = float(NARROW_LABEL_WIDTH)
        for key, label, colour in series:
            count = counts.get(key, 0)
            if count <= 0:
                continue
            width = plot * count / top
            parts.append(
                f'<rect x="{left:.1f}" y="{y + 5}" width="{width:.1f}" '
                f'height="{NARROW_ROW_HEIGHT - 10}" fill="{colour}">'
                f"<title>{escape(name)}: {count} {escape(label)}</title></rect>"
            )
            left += width
        parts.append(
            f'<text x="{left + 4:.1f}" y="{y + 16}" font-size="12" fill="#1d2430">'
            f"{sum(counts.values())}</text>"
        )
    if axis:
        parts.append(
            f'<text x="4" y="{height - 5}" font-size="11" fill="#5b6575">{escape(axis)}</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above is escaped
