from django.apps import AppConfig


class UsersConfig(AppConfig):
    name = "triage.users"
    label = "users"
    verbose_name = "Users and roles"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from triage.users.middleware import remember_zone_at_sign_in

        user_logged_in.connect(remember_zone_at_sign_in, dispatch_uid="asnwatch-time-zone")
