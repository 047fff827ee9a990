"""The first run, as a new user has it (issue 9): `scripts/run.sh` (what `make run` runs)
on a fresh database and free ports, its banner, the printed commands pasted into bash as
they are, the message delivered, the callback verified by the receiver run.sh started, and
the admin in Chromium with the printed password showing the message.

One run.sh per module (it takes 15-25 s to migrate a fresh database); everything it starts
is killed with its process group. The browser part is skipped without Chromium; the rest
is not.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
BANNER_TIMEOUT = 45.0  # a fresh database's migrations, on a busy 2-core machine
STEP_TIMEOUT = 12.0  # then each step: the message delivered, its callback received
RULE = "=" * 80


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FirstRun:
    """A running scripts/run.sh and what its banner said."""

    def __init__(self, tmp: Path) -> None:
        self.port, self.callback_port = free_port(), free_port()
        self.log = tmp / "run.out"
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
        env.update(
            # What `make run`'s .env holds, and a database of its own.
            DEBUG="true",
            SECRET_KEY="first-run-test-" + "k" * 40,
            DATABASE_URL=f"sqlite:///{tmp / 'first_run.sqlite3'}",
            PORT=str(self.port),
            CALLBACK_PORT=str(self.callback_port),
            READY_TIMEOUT=str(int(BANNER_TIMEOUT)),
        )
        self.out = self.log.open("wb")
        self.proc = subprocess.Popen(
            ["bash", "scripts/run.sh"],
            cwd=ROOT,
            env=env,
            stdout=self.out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: killed whole, whatever happens
        )
        self.banner = self._wait_for_banner()

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def _wait_for_banner(self) -> str:
        deadline = time.monotonic() + BANNER_TIMEOUT + 5
        while time.monotonic() < deadline:
            text = self.output()
            if text.count(RULE) >= 2:
                return text.split(RULE)[1]
            if self.proc.poll() is not None:
                pytest.fail(f"run.sh exited ({self.proc.returncode}) before its banner:\n{text}")
            time.sleep(0.2)
        pytest.fail(f"no banner within {BANNER_TIMEOUT} s:\n{self.output()}")

    def field(self, pattern: str) -> str:
        match = re.search(pattern, self.banner)
        assert match, (pattern, self.banner)
        return match.group(1)

    def commands(self) -> str:
        """The "Try it" commands exactly as printed, from `export KEY=` to the status curl."""
        block = self.banner[self.banner.index(" export KEY=") :]
        return block[: block.index(" (Run the last one")]

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=10)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        finally:
            self.out.close()


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    run = FirstRun(tmp_path_factory.mktemp("first_run"))
    try:
        yield run
    finally:
        run.stop()


def paste(commands: str, *, timeout: float = STEP_TIMEOUT) -> subprocess.CompletedProcess:
    """Run commands as a user pasting them into a fresh bash (no KEY in its environment)."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    return subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", commands],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def normalized(commands: str) -> list[str]:
    return [line.strip() for line in commands.strip().splitlines() if line.strip()]


def test_banner_waits_for_the_server_and_says_all_a_first_run_needs(first_run):
    base = f"http://127.0.0.1:{first_run.port}"
    # Printed only once /healthz answers: the server accepts connections at once.
    assert requests.get(f"{base}/healthz", timeout=5).status_code == 200
    assert first_run.output().index('"GET /healthz') < first_run.output().index(RULE)
    key = first_run.field(r"API key \(shown once\):\s+(\S+)")
    first_run.field(r"Webhook secret:\s+(\S+)")
    assert f"export KEY={key}" in first_run.banner
    # PORT moves the webhook URLs handed to providers with the server (not :8000).
    assert f"Provider webhook URLs start with {base}" in first_run.banner
    got = requests.get(f"{base}/api/v1/providers/sandbox", headers={"X-API-Key": key}, timeout=5)
    assert got.status_code == 200, got.text
    sandbox = got.json()["data"]
    assert sandbox["statusWebhookUrl"].startswith(f"{base}/webhooks/providers/")
    # The README's "Try it" is the printed block (with the default ports and a placeholder).
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### Try it") :]
    in_readme = section[
        section.index("```sh") + 5 : section.index("```", section.index("```sh") + 5)
    ]
    printed = (
        first_run.commands()
        .replace(f"127.0.0.1:{first_run.port}/", "127.0.0.1:8000/")
        .replace(f"127.0.0.1:{first_run.callback_port}/", "127.0.0.1:8001/")
    )
    readme_lines, printed_lines = normalized(in_readme), normalized(printed)
    assert readme_lines[0].startswith("export KEY=") and printed_lines[0] == f"export KEY={key}"
    assert readme_lines[1:] == printed_lines[1:]


def test_printed_commands_send_deliver_and_the_callback_is_verified(first_run):
    commands = first_run.commands()
    sent = paste(commands)
    assert sent.returncode == 0, (sent.stdout, sent.stderr)
    # The send's 202 answer is shown (tee), and the status command prints the message.
    accepted = json.loads(sent.stderr.strip().splitlines()[-1])
    (mid,) = [m["messageId"] for m in accepted["messages"]]
    assert json.loads(sent.stdout)["messageId"] == mid

    # Following it with the printed status command, as the banner says: DELIVERED.
    status_command = "\n".join(
        line for line in commands.splitlines() if line.strip().startswith("export KEY=")
    ) + f"\nMID={mid}\n" + commands.strip().splitlines()[-1]  # fmt: skip
    deadline = time.monotonic() + STEP_TIMEOUT
    while True:
        got = paste(status_command)
        assert got.returncode == 0, got.stderr
        status = json.loads(got.stdout)["status"]["name"]
        if status == "DELIVERED_TO_HANDSET" or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert status == "DELIVERED_TO_HANDSET"

    # The receiver run.sh started got the callback and checked both signatures.
    wanted = re.compile(
        rf"\[callback\] cb_\d+ attempt 1 message {mid} sms to \+14155550100: "
        r"DELIVERED_TO_HANDSET \| X-Signature: ok \| webhook-signature: ok"
    )
    deadline = time.monotonic() + STEP_TIMEOUT
    while not wanted.search(first_run.output()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert wanted.search(first_run.output()), first_run.output()[-3000:]
    assert "MISMATCH" not in first_run.output() and "REFUSED" not in first_run.output()
    first_run.delivered = mid


def test_a_failing_paste_says_why(first_run):
    """`curl -s` failed silently; the printed commands show the error document."""
    commands = re.sub(r"export KEY=\S+", "export KEY=omk_wrong", first_run.commands())
    got = paste(commands)
    assert got.returncode != 0
    assert "401" in got.stderr and '"code"' in got.stderr, got.stderr


def test_the_admin_shows_the_message_with_the_printed_password(first_run, request):
    from tests.browser.conftest import CHROMIUM, HAVE_CHROMIUM, HAVE_PLAYWRIGHT

    if not (HAVE_CHROMIUM and HAVE_PLAYWRIGHT):
        pytest.skip(f"browser part skipped: Chromium not found at {CHROMIUM}")
    mid = getattr(first_run, "delivered", None)
    if mid is None:
        pytest.skip("no message was delivered (see the test before)")
    base = first_run.field(r"Admin:\s+(\S+)/admin/")
    password = first_run.field(r"password:\s+(\S+)")
    browser = request.getfixturevalue("browser")  # the run's one Chromium
    page = browser.new_page()
    try:
        page.goto(f"{base}/admin/login/")
        page.fill("#id_username", "admin")
        page.fill("#id_password", password)
        page.click("input[type=submit]")
        page.wait_for_url(f"{base}/admin/", timeout=10_000)
        page.goto(f"{base}/admin/messaging/message/")
        log = page.inner_text("#result_list")
        assert "+14155550100" in log
        assert "DELIVERED" in log.upper() or "Delivered" in log
        page.goto(f"{base}/admin/messaging/message/?q={mid}")
        assert page.locator("#result_list tbody tr").count() == 1
    finally:
        page.close()
