"""GET /healthz: 200 when the database and the task broker answer, else 503."""

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache


def _database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


def _broker() -> str:
    from django_q.brokers import get_broker

    broker = get_broker()
    broker.ping()
    # queue_size() really touches the broker (Redis LLEN, or the ORM queue table).
    return f"ok ({broker.queue_size()} queued)"


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    checks: dict[str, str] = {}
    healthy = True
    for name, check in (("database", _database), ("broker", _broker)):
        try:
            checks[name] = check()
        except Exception as exc:  # any failure means "not ready", whatever it is
            checks[name] = f"error: {type(exc).__name__}: {exc}"[:300]
            healthy = False
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": checks},
        status=200 if healthy else 503,
    )
