"""Users and roles change on Settings → Users and with `manage.py users`, which record every
change (UserChange). The Django admin shows users and groups read-only, so that no one's
roles or sign-in change there without a record."""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.http import HttpRequest


class ReadOnly:
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


User = get_user_model()
admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class RecordedUserAdmin(ReadOnly, UserAdmin):
    pass


@admin.register(Group)
class RecordedGroupAdmin(ReadOnly, GroupAdmin):
    pass
