from django.urls import path

from triage.requests import views

# Under /exclusions/requests/: the navigation marks Allowlist for every "exclusion…" page.
urlpatterns = [
    path("", views.request_list, name="exclusion_requests"),
    path("new/", views.request_new, name="exclusion_request_new"),
    path("<int:request_id>/", views.request_detail, name="exclusion_request"),
    path("<int:request_id>/approve/", views.request_approve, name="exclusion_request_approve"),
    path("<int:request_id>/decline/", views.request_decline, name="exclusion_request_decline"),
    path("<int:request_id>/withdraw/", views.request_withdraw, name="exclusion_request_withdraw"),
]
