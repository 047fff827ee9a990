"""The contacts and suppressions API (views in messaging: they share its idempotency)."""

from django.urls import path

from . import contacts as api

urlpatterns = [
    path("contacts", api.ContactListView.as_view(), name="contacts"),
    path("contacts/import", api.ContactImportView.as_view(), name="contacts-import"),
    path("contacts/<uuid:contact_id>", api.ContactDetailView.as_view(), name="contact"),
    path("suppressions", api.SuppressionListView.as_view(), name="suppressions"),
    path(
        "suppressions/<int:suppression_id>",
        api.SuppressionDetailView.as_view(),
        name="suppression",
    ),
]
