from django.apps import AppConfig


class WorkersConfig(AppConfig):
    """Holds our `qcluster` command: listed before django_q, so it is the one Django runs."""

    name = "messaging.workers"
    label = "messaging_workers"
    verbose_name = "Workers"
