"""The alert preview: to htmx the side panel the list shows beside itself, to any other
request the same content as a page of its own (a link to it, shared or opened in a new
tab, works). Its workflow forms are the alert page's, posting to the same actions."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET

from config.roles import triage_required
from triage import selectors as triage_selectors
from triage import views as triage_views
from triage.allowlist.services import user_can_change_exclusions
from triage.preview import selectors


@require_GET
@triage_required
def alert_preview(request: HttpRequest, alert_id: int) -> HttpResponse:
    alert = triage_views.get_alert_for_user(request, alert_id)
    event = alert.event
    context = triage_views.workflow_context(
        alert,
        event=event,
        highlighted=triage_selectors.highlighted_fields(event=event),
        function_name=triage_selectors.function_display_name(
            triage_selectors.event_function_name(event)
        ),
        timeline=selectors.network_timeline(alert=alert, now=timezone.now()),
        network_prevalence=selectors.network_prevalence(alert=alert),
        source_ip_prevalence=selectors.source_ip_prevalence(alert=alert, source_ip=event.source_ip),
        principal_alerts=selectors.principal_open_alerts(alert=alert),
        network_alerts=selectors.network_open_alerts(alert=alert),
        can_change_exclusions=user_can_change_exclusions(request.user),
    )
    if request.htmx:
        response = render(request, "triage/alert_preview_panel.html", context)
    else:
        response = render(request, "triage/alert_preview.html", context)
    patch_vary_headers(response, ("HX-Request",))
    return response
