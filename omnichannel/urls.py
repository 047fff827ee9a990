from django.urls import path

from . import api

urlpatterns = [
    path("scenarios", api.ScenarioListView.as_view(), name="scenarios"),
    path("scenarios/<str:key>", api.ScenarioDetailView.as_view(), name="scenario"),
    path("omnimessages", api.OmniListView.as_view(), name="omnimessages"),
    path("omnimessages/<uuid:omnimessage_id>", api.OmniDetailView.as_view(), name="omnimessage"),
    path(
        "omnimessages/<uuid:omnimessage_id>/status",
        api.OmniStatusView.as_view(),
        name="omnimessage-status",
    ),
]
