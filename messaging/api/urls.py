from django.urls import path

from . import contact_send, media, views

urlpatterns = [
    path("providers", views.ProviderListView.as_view(), name="providers"),
    path("providers/<str:name>", views.ProviderDetailView.as_view(), name="provider"),
    path("templates", views.TemplateListView.as_view(), name="templates"),
    path("templates/<str:name>", views.TemplateDetailView.as_view(), name="template"),
    path(
        "templates/<str:name>/preview", views.TemplatePreviewView.as_view(), name="template-preview"
    ),
    path("messages", views.MessageListView.as_view(), name="messages"),
    path("messages/<uuid:message_id>", views.MessageDetailView.as_view(), name="message"),
    path("media", media.MediaListView.as_view(), name="media"),
    path("media/<str:media_id>", media.MediaDetailView.as_view(), name="media-detail"),
    path(
        "contacts/<uuid:contact_id>/messages/<str:channel>",
        contact_send.ContactSendView.as_view(),
        name="contact-send",
    ),
]
