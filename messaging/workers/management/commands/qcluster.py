"""`qcluster`: django-q2's cluster, plus the ticker that fires the delivery timers.

The cluster (its own processes) runs the tasks; this process, which django-q2 leaves idle
once the cluster has started, runs `timers.ticker_loop` until the cluster stops. So every
worker machine keeps retries, scheduled releases, expiry and crashed claims to the second
without a process of its own to deploy, and a killed cluster takes its ticker with it.
"""

from django.conf import settings
from django_q.cluster import Cluster
from django_q.management.commands.qcluster import Command as QClusterCommand

from messaging.services.timers import ticker_loop


class Command(QClusterCommand):
    help = "Starts a django-q2 cluster and the delivery ticker (retries, schedules, expiry)."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--no-ticker",
            action="store_true",
            help="Run the cluster only (the once-a-minute sweep still runs every timer).",
        )

    def handle(self, *args, **options):
        if options.get("run_once") or options.get("no_ticker") or not settings.DISPATCH_TICK:
            return super().handle(*args, **options)
        import os

        assert settings.SECRET_KEY  # as django-q2's command: refuse to start without it
        if options.get("cluster_name"):
            os.environ["Q_CLUSTER_NAME"] = options["cluster_name"]
        cluster = Cluster()
        cluster.start()
        # The cluster's signal handlers stop its sentinel on SIGTERM/SIGINT; the ticker
        # stops when the sentinel is gone.
        ticker_loop(should_stop=lambda: cluster.sentinel is None or not cluster.sentinel.is_alive())
