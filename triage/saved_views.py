"""Saved views of the alert list: a user names the current filters, and may make one
of them the list they land on (their default)."""

from urllib.parse import parse_qsl, urlencode

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from triage.models import SavedView

MAX_VIEWS = 50
MAX_QUERY_CHARS = 2000
# A position in the list is not part of a view: a view always starts at its first page.
NOT_SAVED = {"after", "csrfmiddlewaretoken", "name", "next", "view", "newer_than"}


def view_query(query: str) -> str:
    """The filters of a list query string, without its page position."""
    pairs = [(name, value) for name, value in parse_qsl(query, keep_blank_values=True)
             if name not in NOT_SAVED]  # fmt: skip
    return urlencode(pairs)


def saved_view_save(*, user: AbstractBaseUser, name: str, query: str) -> SavedView:
    """Save the filters under name; saving a name again replaces what it filters."""
    name = " ".join(name.split())
    if not name:
        raise ValidationError("A saved view needs a name.")
    if len(name) > 100:
        raise ValidationError("A saved view's name is at most 100 characters.")
    query = view_query(query)
    if len(query) > MAX_QUERY_CHARS:
        raise ValidationError("These filters are too long to save.")
    with transaction.atomic():
        existing = SavedView.objects.select_for_update().filter(user=user, name=name).first()
        if existing is not None:
            existing.query = query
            existing.save(update_fields=["query"])
            return existing
        if SavedView.objects.filter(user=user).count() >= MAX_VIEWS:
            raise ValidationError(f"At most {MAX_VIEWS} saved views: delete one first.")
        return SavedView.objects.create(user=user, name=name, query=query)


def saved_view_make_default(*, user: AbstractBaseUser, view: SavedView | None) -> None:
    """Make view the user's default list, or (None) go back to the open alerts."""
    if view is not None and view.user_id != user.pk:
        raise ValidationError("Not one of your saved views.")
    with transaction.atomic():
        SavedView.objects.filter(user=user, is_default=True).update(is_default=False)
        if view is not None:
            SavedView.objects.filter(pk=view.pk).update(is_default=True)


def saved_view_delete(*, user: AbstractBaseUser, view: SavedView) -> None:
    if view.user_id != user.pk:
        raise ValidationError("Not one of your saved views.")
    view.delete()


def default_view(user: AbstractBaseUser) -> SavedView | None:
    return SavedView.objects.filter(user=user, is_default=True).first()
