from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from signin.forms import AdminSignInForm, SignInForm
from triage.api.api import api

# Both sign-in pages say when the throttle refused an attempt (signin/).
admin.site.login_form = AdminSignInForm

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="alerts"), name="home"),
    path(
        "login/",
        auth_views.LoginView.as_view(authentication_form=SignInForm),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("settings/notifications/", include("triage.notify.urls")),
    path("api/v1/", api.urls),
    path("settings/api-tokens/", include("triage.api.urls")),
    path("settings/users/", include("triage.users.urls")),
    path("account/", include("triage.users.account_urls")),
    path("exclusions/requests/", include("triage.requests.urls")),
    path("", include("triage.urls")),
    path("", include("ingest.urls")),
]

# Signed in without a role (or refused an object): a page that says whom to ask.
handler403 = "triage.views.forbidden"
handler400 = "config.errors.bad_request"
handler404 = "config.errors.page_not_found"
handler500 = "config.errors.server_error"
