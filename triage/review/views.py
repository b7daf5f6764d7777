"""The weekly review page and its CSV export; the figures come from triage.review.selectors."""

from datetime import date

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from config.queries import invalid_query
from config.roles import triage_required
from triage.allowlist.services import user_can_change_exclusions
from triage.charts import horizontal_bars_svg, stacked_bars_svg
from triage.models import Alert
from triage.review import exports
from triage.review import selectors as figures

# Close reasons in the order the charts stack them, with colours a reader can tell apart.
SERIES = [
    ("true_positive", "True positive", "#b42318"),
    ("false_positive", "False positive", "#1f5fbf"),
    ("benign_positive", "Benign positive", "#067647"),
    ("duplicate", "Duplicate", "#8a94a6"),
    ("other", "Other", "#b54708"),
    (figures.OPEN, "Not closed", "#d0d5dd"),
]
NETWORK_BARS = 8


class WeekForm(forms.Form):
    """?week=2026-W47, a week from 2000-W01 to the week in progress; empty: the last full week."""

    week = forms.CharField(required=False)

    def clean_week(self) -> date:
        try:
            return figures.parse_week(self.cleaned_data["week"])
        except ValueError as error:
            raise forms.ValidationError(str(error)) from None


@require_GET
@triage_required
def review(request: HttpRequest) -> HttpResponse:
    form = WeekForm(request.GET)
    if not form.is_valid():
        return invalid_query(request, form)
    week = figures.weekly_review(week_start=form.cleaned_data["week"])
    # Days twice: vertical bars for a wide screen, one row a day for a phone (CSS shows one),
    # so that the text stays legible at 390 px. Networks, in a half-width card and with
    # long names, are one row each everywhere.
    per_day = {
        "bars": [(f"{day:%a %d %b}", counts) for day, counts in week.per_day],
        "series": SERIES,
        "title": f"Alerts detected per day (UTC days) in {week.name}, by close reason",
        "axis": "days in UTC",
    }
    by_network = {
        "bars": [
            (group.as_organization, {Alert.CloseReason.FALSE_POSITIVE.value: group.count})
            for group in week.fp_by_network[:NETWORK_BARS]
        ],
        "series": [SERIES[1]],
        "title": f"False positives closed in {week.name}, by AS organisation",
    }
    context = {
        "week": week,
        "per_day_chart": stacked_bars_svg(**per_day),
        "per_day_chart_narrow": horizontal_bars_svg(**per_day),
        "network_chart": horizontal_bars_svg(**by_network),
        "can_change": user_can_change_exclusions(request.user),
    }
    return render(request, "triage/review.html", context)


@require_GET
@triage_required
def review_csv(request: HttpRequest) -> HttpResponse:
    form = WeekForm(request.GET)
    if not form.is_valid():
        return invalid_query(request, form)
    week = figures.weekly_review(week_start=form.cleaned_data["week"])
    response = HttpResponse(exports.review_csv(week), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="asnwatch-alerts-{week.name}.csv"'
    return response
