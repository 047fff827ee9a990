from django.apps import AppConfig


class OmnichannelConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "omnichannel"
    verbose_name = "Omnichannel"

    def ready(self) -> None:
        from . import receivers  # noqa: F401  (connects the signal receivers)
