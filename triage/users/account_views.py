"""My preferences: what a signed-in user chooses for themselves, whatever their roles.

The time zone their pages show times in (triage/users/zones.py); their e-mail
notifications keep their own page (/account/notifications/), linked from here.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from triage.assignment import wants_assignment_emails
from triage.users import zones
from triage.users.forms import TimeZoneForm
from triage.users.middleware import remember_zone


@require_http_methods(["GET", "POST"])
@login_required
def preferences(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = TimeZoneForm(request.POST)
        if form.is_valid():
            name = form.cleaned_data["time_zone"]
            zones.user_zone_set(user=request.user, name=name)
            remember_zone(request, name)
            messages.success(request, f"Times are now shown in {name}.")
            return redirect("preferences")
    else:
        form = TimeZoneForm(initial={"time_zone": zones.user_zone_name(request.user)})
    context = {"form": form, "assignment_emails": wants_assignment_emails(request.user)}
    return render(request, "users/preferences.html", context)
