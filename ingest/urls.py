from django.urls import path

from ingest import views

urlpatterns = [
    path("events/", views.events, name="events"),
]
