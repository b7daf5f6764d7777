from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "triage.api"
    label = "api"
    verbose_name = "JSON API"
