"""The signed-in user's own settings (/account/…); /account/notifications/ is triage's."""

from django.urls import path

from triage.users import account_views

urlpatterns = [
    path("preferences/", account_views.preferences, name="preferences"),
]
