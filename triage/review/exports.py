"""The week's alerts as CSV, for a spreadsheet: one row an alert, its state at the week's end."""

import csv
import io
from datetime import datetime

from triage.review.selectors import WeeklyReview

# status, close_reason and closed_at are the alert's state at the end of the week, as
# the page counts it.
CSV_COLUMNS = (
    "alert_id", "created_at", "event_time", "status", "close_reason", "closed_at",
    "as_number", "as_organization", "account_id", "user_name", "event_count", "reason",
)  # fmt: skip
# A spreadsheet runs a cell that starts like a formula; organisation names and
# user names are attacker-chosen, so such cells are quoted as text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    if value is None:
        return ""
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def review_csv(review: WeeklyReview) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for alert in review.alerts:
        state = review.states[alert.pk]
        row = (
            alert.pk, alert.created_at, alert.original_time, state.status, state.close_reason,
            state.closed_at, alert.as_number, alert.as_organization,
            alert.account_id, alert.user_name, alert.event_count, alert.reason,
        )  # fmt: skip
        writer.writerow([csv_cell(value) for value in row])
    return out.getvalue()
