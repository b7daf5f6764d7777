from django.apps import AppConfig


class UsersConfig(AppConfig):
    name = "triage.users"
    label = "users"
    verbose_name = "Users and roles"
