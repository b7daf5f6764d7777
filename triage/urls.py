from django.urls import path

from triage import grouping_views, saved_view_views, views
from triage.allowlist import views as allowlist_views
from triage.preview import views as preview_views
from triage.review import views as review_views

urlpatterns = [
    path("alerts/", views.alert_list, name="alerts"),
    path("alerts/bulk/", views.alert_bulk, name="alert_bulk"),
    path("alerts/new/", views.alerts_new, name="alerts_new"),
    path("alerts/groups/action/", grouping_views.alert_group_action, name="alert_group_action"),
    path("alerts/views/", saved_view_views.saved_view_create, name="saved_view_create"),
    path(
        "alerts/views/<int:view_id>/default/",
        saved_view_views.saved_view_default,
        name="saved_view_default",
    ),
    path(
        "alerts/views/no-default/",
        saved_view_views.saved_view_no_default,
        name="saved_view_no_default",
    ),
    path(
        "alerts/views/<int:view_id>/delete/",
        saved_view_views.saved_view_remove,
        name="saved_view_delete",
    ),
    path("alerts/<int:alert_id>/", views.alert_detail, name="alert"),
    path("alerts/<int:alert_id>/preview/", preview_views.alert_preview, name="alert_preview"),
    path("alerts/<int:alert_id>/acknowledge/", views.alert_acknowledge, name="alert_acknowledge"),
    path("alerts/<int:alert_id>/assign/", views.alert_assign, name="alert_assign"),
    path("alerts/<int:alert_id>/close/", views.alert_close, name="alert_close"),
    path("alerts/<int:alert_id>/reopen/", views.alert_reopen, name="alert_reopen"),
    path("alerts/<int:alert_id>/notes/", views.alert_note, name="alert_note"),
    path(
        "alerts/<int:alert_id>/checklist/<slug:step>/",
        views.alert_checklist_step,
        name="alert_checklist_step",
    ),
    # Principals and networks are named by attacker-chosen text: query parameters, encoded.
    path("principals/", views.principal, name="principal"),
    path("networks/", views.network, name="network"),
    path("exclusions/", allowlist_views.exclusion_list, name="exclusions"),
    path("exclusions/new/", allowlist_views.exclusion_new, name="exclusion_new"),
    path("exclusions/<int:exclusion_id>/", allowlist_views.exclusion_detail, name="exclusion"),
    path(
        "exclusions/<int:exclusion_id>/edit/", allowlist_views.exclusion_edit, name="exclusion_edit"
    ),
    path(
        "exclusions/<int:exclusion_id>/disable/",
        allowlist_views.exclusion_disable,
        name="exclusion_disable",
    ),
    path(
        "exclusions/<int:exclusion_id>/enable/",
        allowlist_views.exclusion_enable,
        name="exclusion_enable",
    ),
    path("review/", review_views.review, name="review"),
    path("review/alerts.csv", review_views.review_csv, name="review_csv"),
    path("account/notifications/", views.notification_settings, name="notification_settings"),
]
