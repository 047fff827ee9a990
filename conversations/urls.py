from django.urls import path

from . import api

urlpatterns = [
    path("messages/two-way", api.TwoWayView.as_view(), name="two-way"),
    path(
        "conversations/<uuid:conversation_id>",
        api.ConversationDetailView.as_view(),
        name="conversation",
    ),
    path("inbound", api.InboundListView.as_view(), name="inbound"),
    path("inbound/webhooks", api.RouteListView.as_view(), name="inbound-webhooks"),
    path("inbound/webhooks/<int:route_id>", api.RouteDetailView.as_view(), name="inbound-webhook"),
]
