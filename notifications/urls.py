"""Included under api/v1/ before messaging's URLs, so that messages/notifications is this
app's (messaging's messages/<uuid> would not match it anyway)."""

from django.urls import path

from . import api

urlpatterns = [
    path("notifications", api.NotificationListView.as_view(), name="notifications"),
    path("notifications/<str:name>", api.NotificationDetailView.as_view(), name="notification"),
    path(
        "messages/notifications",
        api.NotificationSendView.as_view(),
        name="messages-notifications",
    ),
]
