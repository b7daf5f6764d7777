from django.apps import AppConfig


class ExclusionRequestsConfig(AppConfig):
    name = "triage.requests"
    label = "exclusion_requests"
    verbose_name = "Exclusion requests"
