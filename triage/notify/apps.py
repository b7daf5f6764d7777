from django.apps import AppConfig


class NotifyConfig(AppConfig):
    name = "triage.notify"
    label = "notify"
    verbose_name = "Notifications"
