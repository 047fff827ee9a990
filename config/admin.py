"""The admin site: our name, the dashboard at /admin/dashboard/, and django-q2's pages
(queue, tasks, schedules) for superusers only, whatever model permissions a tenant user
may have been given."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.db.models import Model
from django.http import HttpRequest
from django.urls import path, reverse


class MessagingAdminSite(admin.AdminSite):
    site_header = "Omnichannel messaging"
    site_title = "Omnichannel messaging"
    site_url = None  # there is no public site to "view"

    def get_urls(self):
        from messaging.admin.dashboard import dashboard_view

        dashboard = path("dashboard/", self.admin_view(dashboard_view), name="dashboard")
        return [dashboard, *super().get_urls()]

    def each_context(self, request: HttpRequest) -> dict:
        context = super().each_context(request)
        # "Compose" in the header and on the index, for those who may send (tenant admins).
        from messaging.admin.compose import may_compose

        if request.user.is_authenticated and self.is_registered_name("messaging", "message"):
            if may_compose(request):
                context["compose_url"] = reverse(f"{self.name}:messaging_message_compose")
        return context

    def is_registered_name(self, app_label: str, model_name: str) -> bool:
        return any(
            m._meta.app_label == app_label and m._meta.model_name == model_name
            for m in self._registry
        )


class MessagingAdminConfig(AdminConfig):
    default_site = "config.admin.MessagingAdminSite"

    def ready(self) -> None:
        super().ready()  # autodiscovers every app's admin module
        operations_for_superusers_only()


class SuperuserOnlyAdmin:
    """Mixed in front of a registered ModelAdmin class: nobody but a superuser gets in."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser and super().has_module_permission(request)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_superuser and super().has_view_permission(request, obj)

    def has_add_permission(self, request: HttpRequest, *args) -> bool:
        return request.user.is_superuser and super().has_add_permission(request, *args)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_superuser and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_superuser and super().has_delete_permission(request, obj)


def superusers_only(models: Iterable[type[Model]], site: admin.AdminSite = admin.site) -> None:
    """Re-register each of `models` (where registered) with its admin limited to superusers."""
    for model in models:
        if not site.is_registered(model):
            continue
        current = type(site.get_model_admin(model))
        if issubclass(current, SuperuserOnlyAdmin):
            continue
        restricted = type(f"SuperuserOnly{current.__name__}", (SuperuserOnlyAdmin, current), {})
        site.unregister(model)
        site.register(model, restricted)


def operations_for_superusers_only(site: admin.AdminSite = admin.site) -> None:
    from django_q.models import Failure, OrmQ, Schedule, Success

    superusers_only([OrmQ, Failure, Success, Schedule], site)
