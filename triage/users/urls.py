from django.urls import path

from triage.users import views

urlpatterns = [
    path("", views.user_list, name="users"),
    path("<int:user_id>/", views.user_detail, name="user"),
    path("<int:user_id>/deactivate/", views.user_deactivate, name="user_deactivate"),
    path("<int:user_id>/activate/", views.user_activate, name="user_activate"),
]
