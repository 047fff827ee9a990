"""`manage.py provider_simulator --port N`: Twilio's and Infobip's APIs on 127.0.0.1."""

from django.core.management.base import BaseCommand

from providers.simulator import (
    DEFAULT_INFOBIP_API_KEY,
    DEFAULT_TWILIO_ACCOUNT_SID,
    DEFAULT_TWILIO_AUTH_TOKEN,
    MAGIC_SUFFIXES,
    Simulator,
)


class Command(BaseCommand):
    help = (
        "Serve a loopback stand-in for Twilio's and Infobip's send APIs that posts their "
        "delivery reports back to the webhook URLs named in each request (docs/simulator.md)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8025, help="Port on 127.0.0.1.")
        parser.add_argument("--twilio-account-sid", default=DEFAULT_TWILIO_ACCOUNT_SID)
        parser.add_argument("--twilio-auth-token", default=DEFAULT_TWILIO_AUTH_TOKEN)
        parser.add_argument("--infobip-api-key", default=DEFAULT_INFOBIP_API_KEY)
        parser.add_argument(
            "--report-delay", type=float, default=1.0, help="Seconds before each report."
        )
        parser.add_argument(
            "--slow-seconds", type=float, default=5.0, help="How long 'slow' mode stalls."
        )

    def handle(self, *args, **options):
        simulator = Simulator(
            options["port"],
            twilio_account_sid=options["twilio_account_sid"],
            twilio_auth_token=options["twilio_auth_token"],
            infobip_api_key=options["infobip_api_key"],
            report_delay=options["report_delay"],
            slow_seconds=options["slow_seconds"],
        )
        server = simulator.bind()
        out = self.stdout
        out.write(f"Provider simulator on {simulator.url}")
        out.write(
            f"  twilio:  apiBaseUrl={simulator.url} "
            f"accountSid={simulator.twilio_account_sid} authToken={simulator.twilio_auth_token}"
        )
        out.write(f"  infobip: apiBaseUrl={simulator.url} apiKey={simulator.infobip_api_key}")
        magic = ", ".join(f"...{suffix} {mode}" for suffix, mode in MAGIC_SUFFIXES.items())
        out.write(f"  magic recipients: {magic}; control API: {simulator.url}/_control")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
