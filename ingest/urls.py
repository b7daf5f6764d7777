from django.urls import path

from ingest import views

urlpatterns = [
    path("events/", views.events, name="events"),
    path("events/<int:event_id>/", views.event_detail, name="event"),
    path("sources/", views.sources, name="sources"),
    path("sources.json", views.sources_status, name="sources_status"),
]
