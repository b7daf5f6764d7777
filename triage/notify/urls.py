from django.urls import path

from triage.notify import views

urlpatterns = [
    path("", views.destination_list, name="notify_destinations"),
    path("new/", views.destination_new, name="notify_destination_new"),
    path("<int:destination_id>/", views.destination_detail, name="notify_destination"),
    path("<int:destination_id>/edit/", views.destination_edit, name="notify_destination_edit"),
    path(
        "<int:destination_id>/disable/",
        views.destination_disable,
        name="notify_destination_disable",
    ),
    path(
        "<int:destination_id>/enable/", views.destination_enable, name="notify_destination_enable"
    ),
    path(
        "<int:destination_id>/remove/", views.destination_delete, name="notify_destination_remove"
    ),
    path("<int:destination_id>/test/", views.destination_send_test, name="notify_destination_test"),
]
