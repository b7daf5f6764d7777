from django.urls import path

from triage.api import views

urlpatterns = [
    path("", views.tokens, name="api_tokens"),
    path("<int:token_id>/revoke/", views.token_revoke_view, name="api_token_revoke"),
]
