from django.urls import path

from . import views

urlpatterns = [
    path("media/<str:token>/<str:filename>", views.media_download, name="media-download"),
]
