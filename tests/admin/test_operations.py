"""django-q2's queue, failures and schedules: reachable from the admin for superusers only."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.models import OrmQ, Schedule, Task

DASHBOARD = "admin:dashboard"
# django-q2 has a page of queued tasks only with the ORM broker (Redis keeps its own list).
ORM_BROKER = admin.site.is_registered(OrmQ)
QUEUE_PAGES = [
    *(["admin:django_q_ormq_changelist"] if ORM_BROKER else []),
    "admin:django_q_failure_changelist",
    "admin:django_q_success_changelist",
    "admin:django_q_schedule_changelist",
]


@pytest.fixture
def root(django_user_model):
    return django_user_model.objects.create_superuser("root", "root@example.com", "pw")


def _task(*, success: bool, minutes_ago: float, func: str = "messaging.tasks.dispatch_chunk"):
    stopped = timezone.now() - timedelta(minutes=minutes_ago)
    return Task.objects.create(
        id=uuid.uuid4().hex, name=f"task-{uuid.uuid4().hex[:8]}", func=func,
        started=stopped - timedelta(seconds=1), stopped=stopped, success=success,
        result="ConnectionError: the provider did not answer" if not success else None,
    )  # fmt: skip


@pytest.fixture
def queue_state():
    """Three tasks waiting in whichever broker is configured, two recent failures, one
    older, one success, and the sweep due in a minute."""
    now = timezone.now()
    broker = get_broker()
    broker.purge_queue()
    for _ in range(3):
        broker.enqueue("a signed task package")
    if ORM_BROKER:  # one a worker has taken and not yet acknowledged
        OrmQ.objects.create(key=broker.list_key, payload="x", lock=now + timedelta(minutes=2))
    _task(success=False, minutes_ago=30)
    _task(success=False, minutes_ago=90)
    _task(success=False, minutes_ago=60 * 30)  # older than 24 hours
    _task(success=True, minutes_ago=5)
    sweep = Schedule.objects.get(name="messaging-sweep")
    sweep.next_run = now + timedelta(minutes=1)
    sweep.save()
    yield sweep
    broker.purge_queue()


def _section(html: str) -> str:
    return html[html.index('id="operations"') :]


def test_superuser_sees_queue_size_failures_and_the_sweeps_next_run(client, root, queue_state):
    client.force_login(root)
    html = client.get(reverse(DASHBOARD)).content.decode()
    ops = _section(html)
    assert 'id="ops-queued">3<' in ops
    assert f'id="ops-in-progress">{1 if ORM_BROKER else "–"}<' in ops
    assert 'id="ops-failures">2<' in ops  # the last 24 hours only
    assert 'id="ops-successes">1<' in ops
    next_run = timezone.localtime(queue_state.next_run)
    assert f"next run {next_run:%Y-%m-%d %H:%M:%S} UTC" in ops
    assert "overdue" not in ops
    assert "the provider did not answer" in ops  # the last failure
    for name in QUEUE_PAGES:
        assert reverse(name) in ops


def test_an_overdue_sweep_is_flagged(client, root, queue_state):
    queue_state.next_run = timezone.now() - timedelta(minutes=10)
    queue_state.save()
    client.force_login(root)
    ops = _section(client.get(reverse(DASHBOARD)).content.decode())
    assert "overdue" in ops and "qcluster" in ops


def test_superuser_has_a_clear_link_and_the_queue_pages(client, root, queue_state):
    client.force_login(root)
    index = client.get(reverse("admin:index")).content.decode()
    assert 'id="start-operations"' in index
    assert f'href="{reverse(DASHBOARD)}#operations"' in index
    for name in QUEUE_PAGES:
        assert reverse(name) in index
        assert client.get(reverse(name)).status_code == 200


def test_tenant_users_never_see_operations(login, alpha_admin, queue_state):
    c = login(alpha_admin)
    html = c.get(reverse(DASHBOARD)).content.decode()
    assert 'id="operations"' not in html
    index = c.get(reverse("admin:index")).content.decode()
    assert "Task queue" not in index and "start-operations" not in index
    for name in QUEUE_PAGES:
        assert c.get(reverse(name)).status_code == 403


def test_tenant_users_stay_out_even_with_model_permissions(login, alpha_admin, queue_state):
    # A superuser who ticks django_q's permissions for a tenant user still does not let them in.
    alpha_admin.user_permissions.add(*Permission.objects.filter(content_type__app_label="django_q"))
    c = login(alpha_admin)
    assert "Task queue" not in c.get(reverse("admin:index")).content.decode()
    for name in QUEUE_PAGES:
        assert c.get(reverse(name)).status_code == 403
    assert c.get(reverse("admin:app_list", args=["django_q"])).status_code == 404
