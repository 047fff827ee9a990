"""A loopback stand-in for Twilio's and Infobip's messaging APIs (PROVIDERS.md §10).

It serves their send endpoints as documented (authentication checked, their success JSON
with ids), then posts their delivery reports to the report URL named in the request:
Twilio's StatusCallback form post signed with X-Twilio-Signature, Infobip's `{"results":
[...]}` JSON to notifyUrl / webhooks.delivery.url. Point a provider's `apiBaseUrl` at it.

Outcomes are steered per recipient or globally through a small control API, or by the
magic recipients (last four digits) it shares with the sandbox provider (providers/magic.py,
docs/simulator.md):

    0001 reject (refused at once)        0002 flaky (first send 503, the retry delivers)
    0003 no_account (WhatsApp/Viber)     0004 bounce (sent, then an undeliverable report)
    0005 throttle (HTTP 429)             0006 slow (answers after `slow_seconds`, delivers)
    ("unavailable", HTTP 503 every time, through the control API only)

    POST /_control          {"mode": "reject", "recipient": "+14155550100"}  (no recipient:
                            every recipient; "mode": null clears)
    POST /_control/reset    back to magic recipients only, logs emptied
    POST /_control/inbound  {"provider": "twilio"|"infobip", "url": "<our inbound URL>",
                            "from", "to", "text", "channel"?}: posts an inbound message now
                            and answers with what our URL said
    GET  /_control          modes, the logs of sends and of posted webhooks, and
                            `refCounts`: how many sends carried each of our message ids
                            (Twilio: `ref` of the StatusCallback URL; Infobip: the messageId
                            we set, else callbackData), to count duplicates
    GET  /sms/3/logs?messageId=...   Infobip's SMS log search (what the adapter's lookup uses)

References are kept as the real providers keep them: a Twilio StatusCallback is called
exactly as given (query included, and signed over it); Infobip takes our messageId per
destination as its own id, echoes callbackData in every report, and refuses a messageId it
already has with REJECTED_DUPLICATE_MESSAGE_ID (23).

`Simulator(port=0).start()` runs it in a thread (tests); `manage.py provider_simulator`
serves it in the foreground. It binds 127.0.0.1 only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import time
import uuid
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import requests

from .magic import FLAKY_FAILURES
from .magic import MAGIC_SUFFIXES as SHARED_MAGIC

DEFAULT_TWILIO_ACCOUNT_SID = "AC" + "0" * 31 + "1"
DEFAULT_TWILIO_AUTH_TOKEN = "simulator-auth-token"
DEFAULT_INFOBIP_API_KEY = "simulator-api-key"

REPORT_ATTEMPTS = 3
# How the throttle (429) and unavailable (503) modes answer: the code and text each provider
# documents for them.
TWILIO_REFUSALS = {429: (20429, "Too Many Requests"), 503: (20503, "Service Unavailable")}
INFOBIP_REFUSALS = {
    429: ("TOO_MANY_REQUESTS", "Too many requests"),
    503: ("GENERAL_ERROR", "Service unavailable"),
}
MODES = ("deliver", "reject", "flaky", "no_account", "bounce", "throttle", "unavailable", "slow")
MODE_ALIASES = {
    "429": "throttle",
    "503": "unavailable",
    "undeliverable": "bounce",
    "fail": "bounce",
}
# The magic table shared with the sandbox: the same number means the same in both.
MAGIC_SUFFIXES = {suffix: outcome for suffix, (outcome, _) in SHARED_MAGIC.items()}

TWILIO_SEND = re.compile(r"^/2010-04-01/Accounts/(?P<sid>[^/]+)/Messages\.json$")
TWILIO_ACCOUNT = re.compile(r"^/2010-04-01/Accounts/(?P<sid>[^/]+)\.json$")
INFOBIP_SEND_PATHS = {
    "/sms/3/messages": "sms3",
    "/viber/2/messages": "viber",
    "/sms/2/text/advanced": "sms2",
    "/whatsapp/1/message/text": "wa",
    "/whatsapp/1/message/image": "wa",
    "/whatsapp/1/message/document": "wa",
    "/whatsapp/1/message/video": "wa",
    "/whatsapp/1/message/audio": "wa",
    "/whatsapp/1/message/sticker": "wa",
    "/whatsapp/1/message/location": "wa",
    "/whatsapp/1/message/interactive/buttons": "wa",
    "/whatsapp/1/message/interactive/url-button": "wa",
    "/whatsapp/1/message/template": "wa_bulk",
}

IB_PENDING = {
    "groupId": 1,
    "groupName": "PENDING",
    "id": 26,
    "name": "PENDING_ACCEPTED",
    "description": "Message sent to next instance",
}
IB_DELIVERED = {
    "groupId": 3,
    "groupName": "DELIVERED",
    "id": 5,
    "name": "DELIVERED_TO_HANDSET",
    "description": "Message delivered to handset",
}
IB_UNDELIVERABLE = {
    "groupId": 2,
    "groupName": "UNDELIVERABLE",
    "id": 9,
    "name": "UNDELIVERABLE_NOT_DELIVERED",
    "description": "Message sent not delivered",
}
IB_REJECTED = {
    "groupId": 5,
    "groupName": "REJECTED",
    "id": 52,
    "name": "REJECTED_DESTINATION",
    "description": "Invalid destination address.",
}
IB_NOT_REGISTERED = {
    "groupId": 5,
    "groupName": "REJECTED",
    "id": 18,
    "name": "REJECTED_DESTINATION_NOT_REGISTERED",
    "description": "Destination not registered on the channel.",
}
IB_DUPLICATE = {
    "groupId": 5,
    "groupName": "REJECTED",
    "id": 23,
    "name": "REJECTED_DUPLICATE_MESSAGE_ID",
    "description": "Message rejected: duplicate message id.",
}
IB_NO_ERROR = {
    "groupId": 0,
    "groupName": "OK",
    "id": 0,
    "name": "NO_ERROR",
    "description": "No Error",
    "permanent": False,
}
IB_UNKNOWN_SUBSCRIBER = {
    "groupId": 1,
    "groupName": "HANDSET_ERRORS",
    "id": 1,
    "name": "EC_UNKNOWN_SUBSCRIBER",
    "description": "Unknown Subscriber",
    "permanent": True,
}


def twilio_sign(auth_token: str, url: str, params: list[tuple[str, str]]) -> str:
    """Twilio's request signature, computed here independently of the adapter's checker."""
    names = sorted({name for name, _ in params})
    data = url
    for name in names:
        for value in sorted({v for n, v in params if n == name}):
            data += name + value
    mac = hmac.new(auth_token.encode(), data.encode("utf-8"), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


def _digits(value: str) -> str:
    return "".join(ch for ch in str(value) if ch.isdigit())


def _ib_time(moment: datetime | None = None) -> str:
    moment = moment or datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


class Simulator:
    def __init__(
        self,
        port: int = 0,
        *,
        twilio_account_sid: str = DEFAULT_TWILIO_ACCOUNT_SID,
        twilio_auth_token: str = DEFAULT_TWILIO_AUTH_TOKEN,
        infobip_api_key: str = DEFAULT_INFOBIP_API_KEY,
        report_delay: float = 0.3,
        slow_seconds: float = 5.0,
    ) -> None:
        self.port = port
        self.twilio_account_sid = twilio_account_sid
        self.twilio_auth_token = twilio_auth_token
        self.infobip_api_key = infobip_api_key
        self.report_delay = report_delay
        self.slow_seconds = slow_seconds
        self.global_mode: str | None = None
        self.recipient_modes: dict[str, str] = {}
        self.sends: list[dict[str, Any]] = []
        self.webhooks: list[dict[str, Any]] = []
        # Our message id → how many send requests carried it, and how many of those the
        # simulator took (answered with an id): a crash benchmark's duplicate count.
        self.ref_counts: dict[str, int] = {}
        self.accepted_ref_counts: dict[str, int] = {}
        # A flaky recipient's failed sends, per our message id (else per recipient).
        self.flaky_failures: dict[str, int] = {}
        # Infobip messageId → its SMS log entry (GET /sms/3/logs).
        self.infobip_logs: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------
    def bind(self) -> ThreadingHTTPServer:
        handler = type("Handler", (_Handler,), {"simulator": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        return self._server

    def start(self) -> Simulator:
        server = self.bind()
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- modes -----------------------------------------------------------------------------
    def set_mode(self, mode: str | None, recipient: str | None = None) -> None:
        if mode is not None:
            mode = MODE_ALIASES.get(str(mode), str(mode))
            if mode not in MODES:
                raise ValueError(f"Unknown mode {mode!r}; use one of {', '.join(MODES)}.")
        with self._lock:
            if recipient:
                if mode is None:
                    self.recipient_modes.pop(_digits(recipient), None)
                else:
                    self.recipient_modes[_digits(recipient)] = mode
            else:
                self.global_mode = mode

    def reset(self) -> None:
        with self._lock:
            self.global_mode = None
            self.recipient_modes.clear()
            self.sends.clear()
            self.webhooks.clear()
            self.ref_counts.clear()
            self.accepted_ref_counts.clear()
            self.flaky_failures.clear()
            self.infobip_logs.clear()

    def mode_for(self, recipient: str, ref: str | None = None) -> str:
        """The mode of this send. "flaky" resolves here: "unavailable" for the first
        FLAKY_FAILURES sends of a message (`ref`, our id; else the recipient), then "deliver"."""
        digits = _digits(recipient)
        with self._lock:
            mode = self.recipient_modes.get(digits) or self.global_mode
            mode = mode or MAGIC_SUFFIXES.get(digits[-4:], "deliver")
            if mode == "flaky":
                key = ref or digits
                failed = self.flaky_failures.get(key, 0)
                if failed >= FLAKY_FAILURES:
                    return "deliver"
                self.flaky_failures[key] = failed + 1
                return "unavailable"
            return mode

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {
                "globalMode": self.global_mode,
                "recipientModes": dict(self.recipient_modes),
                "magicSuffixes": MAGIC_SUFFIXES,
                "sends": list(self.sends),
                "webhooks": list(self.webhooks),
                "refCounts": dict(self.ref_counts),
                "acceptedRefCounts": dict(self.accepted_ref_counts),
                # Our ids the simulator took more than once: messages sent twice.
                "duplicates": {k: n for k, n in self.accepted_ref_counts.items() if n > 1},
            }

    def count_ref(self, ref: str | None, *, accepted: bool = False) -> None:
        """Count one send request carrying our id `ref` (accepted: one the simulator took)."""
        if not ref:
            return
        counts = self.accepted_ref_counts if accepted else self.ref_counts
        with self._lock:
            counts[ref] = counts.get(ref, 0) + 1

    # --- outgoing webhooks -----------------------------------------------------------------
    def post_webhook(
        self, url: str, *, form=None, body=None, headers=None, attempts: int = 1
    ) -> dict[str, Any]:
        """POST one webhook; reports are retried on a non-2xx answer, as providers do (sooner
        than they do: `report_delay` times the attempt number)."""
        for attempt in range(1, attempts + 1):
            try:
                if form is not None:
                    response = requests.post(url, data=form, headers=headers or {}, timeout=10)
                else:
                    response = requests.post(url, json=body, headers=headers or {}, timeout=10)
                status, text = response.status_code, response.text[:2000]
            except requests.RequestException as exc:
                status, text = None, f"{type(exc).__name__}: {exc}"
            outcome = {"url": url, "status": status, "body": text, "attempt": attempt}
            with self._lock:
                self.webhooks.append(outcome)
            if status is not None and 200 <= status < 300:
                break
            if attempt < attempts:
                time.sleep(self.report_delay * attempt)
        return outcome

    def later(self, posts: list) -> None:
        """Post callbacks one after another, `report_delay` apart, off the request thread."""

        def run():
            for post in posts:
                time.sleep(self.report_delay)
                post()

        threading.Thread(target=run, daemon=True).start()

    def twilio_post(
        self, url: str, params: list[tuple[str, str]], attempts: int = 1
    ) -> dict[str, Any]:
        signature = twilio_sign(self.twilio_auth_token, url, params)
        return self.post_webhook(
            url, form=params, headers={"X-Twilio-Signature": signature}, attempts=attempts
        )

    # --- inbound ---------------------------------------------------------------------------
    def inbound(self, spec: dict[str, Any]) -> dict[str, Any]:
        provider, url = spec.get("provider"), spec.get("url")
        sender, recipient = str(spec.get("from", "")), str(spec.get("to", ""))
        text, channel = str(spec.get("text", "")), spec.get("channel") or "sms"
        if not url or provider not in ("twilio", "infobip"):
            raise ValueError("Give provider (twilio or infobip) and url.")
        if provider == "twilio":
            prefix = "whatsapp:" if channel == "whatsapp" else ""
            sid = "SM" + uuid.uuid4().hex
            params = [
                ("ToCountry", "US"),
                ("SmsMessageSid", sid),
                ("NumMedia", "0"),
                ("SmsSid", sid),
                ("SmsStatus", "received"),
                ("Body", text),
                ("To", prefix + recipient),
                ("NumSegments", "1"),
                ("MessageSid", sid),
                ("AccountSid", self.twilio_account_sid),
                ("From", prefix + sender),
                ("ApiVersion", "2010-04-01"),
            ]
            if channel == "whatsapp":
                params += [("ProfileName", "Simulated User"), ("WaId", _digits(sender))]
            return self.twilio_post(url, params)
        result = {
            "messageId": uuid.uuid4().hex,
            "from": _digits(sender),
            "to": _digits(recipient) if recipient.startswith("+") else recipient,
            "receivedAt": _ib_time(),
            "price": {"pricePerMessage": 0, "currency": "EUR"},
            "callbackData": None,
        }
        if channel == "sms":
            result.update(text=text, cleanText=text, keyword="", smsCount=1)
        else:
            result.update(
                integrationType=channel.upper(),
                message={"type": "TEXT", "text": text},
                contact={"name": "Simulated User"},
            )
        body = {"results": [result], "messageCount": 1, "pendingMessageCount": 0}
        return self.post_webhook(url, body=body)


class _Handler(BaseHTTPRequestHandler):
    simulator: Simulator
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - quiet; the logs are in `state()`
        pass

    # --- plumbing --------------------------------------------------------------------------
    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        sim = self.simulator
        path = self.path.split("?", 1)[0]
        if path == "/_control":
            return self._json(200, sim.state())
        if match := TWILIO_ACCOUNT.match(path):
            if not self._twilio_authorized(match["sid"]):
                return self._twilio_error(401, 20003, "Authenticate")
            return self._json(
                200,
                {"sid": sim.twilio_account_sid, "friendly_name": "Simulator", "status": "active"},
            )
        if path == "/sms/3/logs":
            if not self._infobip_authorized():
                return self._infobip_unauthorized(v3=True)
            query = parse_qs(urlsplit(self.path).query)
            wanted = [v for value in query.get("messageId", []) for v in value.split(",") if v]
            with sim._lock:
                if wanted:
                    found = [sim.infobip_logs[m] for m in wanted if m in sim.infobip_logs]
                else:
                    found = list(sim.infobip_logs.values())[-50:]
            return self._json(200, {"results": found})
        if path == "/account/1/balance":
            if not self._infobip_authorized():
                return self._infobip_unauthorized(v3=False)
            return self._json(200, {"balance": 100.0, "currency": "EUR"})
        return self._json(404, {"error": f"No such endpoint: GET {path}"})

    def do_POST(self) -> None:  # noqa: N802
        path = self.path.split("?", 1)[0]
        body = self._body()
        if path.startswith("/_control"):
            return self._control(path, body)
        if match := TWILIO_SEND.match(path):
            return self._twilio_send(match["sid"], body)
        if path in INFOBIP_SEND_PATHS:
            return self._infobip_send(path, INFOBIP_SEND_PATHS[path], body)
        return self._json(404, {"error": f"No such endpoint: POST {path}"})

    def _control(self, path: str, body: bytes) -> None:
        sim = self.simulator
        try:
            spec = json.loads(body or b"{}")
            if path == "/_control":
                sim.set_mode(spec.get("mode"), spec.get("recipient"))
                if "slowSeconds" in spec:
                    sim.slow_seconds = float(spec["slowSeconds"])
                return self._json(200, sim.state())
            if path == "/_control/reset":
                sim.reset()
                return self._json(200, sim.state())
            if path == "/_control/inbound":
                return self._json(200, sim.inbound(spec))
        except (ValueError, AttributeError, TypeError) as exc:
            return self._json(400, {"error": str(exc)})
        return self._json(404, {"error": f"No such control endpoint: {path}"})

    def _stall_or_refuse(self, mode: str, refuse) -> bool:
        """Apply the request-wide modes; True when the request was answered with an error."""
        if mode == "slow":
            time.sleep(self.simulator.slow_seconds)
        elif mode in ("throttle", "unavailable"):
            refuse(429 if mode == "throttle" else 503)
            return True
        return False

    # --- Twilio ----------------------------------------------------------------------------
    def _twilio_authorized(self, path_sid: str) -> bool:
        sim = self.simulator
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return (
            hmac.compare_digest(user, sim.twilio_account_sid)
            and hmac.compare_digest(password, sim.twilio_auth_token)
            and path_sid == user
        )

    def _twilio_error(self, status: int, code: int, message: str) -> None:
        self._json(
            status,
            {
                "code": code,
                "message": message,
                "more_info": f"https://www.twilio.com/docs/errors/{code}",
                "status": status,
            },
        )

    def _twilio_send(self, path_sid: str, raw: bytes) -> None:
        sim = self.simulator
        if not self._twilio_authorized(path_sid):
            return self._twilio_error(401, 20003, "Authenticate")
        params = parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)
        form = dict(params)
        with sim._lock:
            sim.sends.append({"provider": "twilio", "path": self.path, "form": params})
        callback = form.get("StatusCallback") or ""
        ref = (parse_qs(urlsplit(callback).query).get("ref") or [None])[0]
        sim.count_ref(ref)
        to = form.get("To", "")
        if not to:
            return self._twilio_error(400, 21604, "A 'To' phone number is required.")
        if not (form.get("From") or form.get("MessagingServiceSid")):
            return self._twilio_error(400, 21603, "A 'From' phone number is required.")
        if not (form.get("Body") or form.get("MediaUrl") or form.get("ContentSid")):
            return self._twilio_error(400, 21602, "Message body is required.")
        mode = sim.mode_for(to, ref)
        if self._stall_or_refuse(mode, lambda s: self._twilio_error(s, *TWILIO_REFUSALS[s])):
            return None
        if mode == "reject":
            return self._twilio_error(400, 21610, "Attempt to send to unsubscribed recipient")
        if mode == "no_account" and to.startswith("whatsapp:"):
            return self._twilio_error(400, 63024, "Invalid message recipient")
        sid = "SM" + uuid.uuid4().hex
        now = format_datetime(datetime.now(UTC), usegmt=False)
        service = form.get("MessagingServiceSid")
        resource = {
            "account_sid": sim.twilio_account_sid,
            "api_version": "2010-04-01",
            "body": form.get("Body", ""),
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": form.get("From"),
            "messaging_service_sid": service,
            "num_media": str(sum(1 for n, _ in params if n == "MediaUrl")),
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "accepted" if service else "queued",
            "subresource_uris": {
                "media": f"/2010-04-01/Accounts/{sim.twilio_account_sid}/Messages/{sid}/Media.json"
            },
            "to": to,
            "uri": f"/2010-04-01/Accounts/{sim.twilio_account_sid}/Messages/{sid}.json",
        }
        # Taken, as a real provider takes it once the request is in: its reports follow even
        # if the sender dies before reading the answer (a killed worker's send is reported).
        sim.count_ref(ref, accepted=True)
        if callback:
            sim.later(self._twilio_reports(callback, sid, form, mode))
        self._json(201, resource)
        return None

    def _twilio_reports(self, url: str, sid: str, form: dict[str, str], mode: str) -> list:
        sim = self.simulator
        sender = form.get("From") or form.get("MessagingServiceSid", "")
        whatsapp = form.get("To", "").startswith("whatsapp:")
        steps = ["sent", "undelivered" if mode == "bounce" else "delivered"]
        if whatsapp and mode != "bounce":
            steps.append("read")
        posts = []
        for step in steps:
            params = [
                ("AccountSid", sim.twilio_account_sid),
                ("ApiVersion", "2010-04-01"),
                ("From", sender),
                ("To", form.get("To", "")),
                ("MessageSid", sid),
                ("SmsSid", sid),
                ("MessageStatus", step),
                ("SmsStatus", step),
            ]
            if step in ("delivered", "undelivered") and not whatsapp:
                params.append(("RawDlrDoneDate", datetime.now(UTC).strftime("%y%m%d%H%M")))
            if step == "undelivered":
                # A permanent failure (Twilio 30005): the transient 30003 would be retried.
                params += [("ErrorCode", "30005"), ("ErrorMessage", "Unknown destination handset")]
            if whatsapp:
                params.append(("ChannelPrefix", "whatsapp"))
            posts.append(lambda p=params: sim.twilio_post(url, p, REPORT_ATTEMPTS))
        return posts

    # --- Infobip ---------------------------------------------------------------------------
    def _infobip_authorized(self) -> bool:
        expected = f"App {self.simulator.infobip_api_key}"
        return hmac.compare_digest(self.headers.get("Authorization", ""), expected)

    def _infobip_error(self, status: int, code: str, text: str, *, v3: bool) -> None:
        if v3:
            self._json(
                status,
                {"errorCode": f"E{status}", "description": text, "action": "", "violations": []},
            )
        else:
            self._json(
                status, {"requestError": {"serviceException": {"messageId": code, "text": text}}}
            )

    def _infobip_unauthorized(self, *, v3: bool) -> None:
        self._infobip_error(401, "UNAUTHORIZED", "Invalid login details", v3=v3)

    def _infobip_send(self, path: str, shape: str, raw: bytes) -> None:
        sim = self.simulator
        v3 = shape in ("sms3", "viber")
        if not self._infobip_authorized():
            return self._infobip_unauthorized(v3=v3)
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            return self._infobip_error(400, "BAD_REQUEST", "Invalid JSON", v3=v3)
        with sim._lock:
            sim.sends.append({"provider": "infobip", "path": path, "json": body})
        targets = self._infobip_targets(shape, body)
        for target in targets:
            sim.count_ref(target["mid"] or target["cb"])
        if not targets or not all(t["to"] for t in targets):
            return self._infobip_error(400, "BAD_REQUEST", "Missing destination 'to'.", v3=v3)
        first = targets[0]
        first_mode = sim.mode_for(first["to"], first["mid"] or first["cb"])
        if self._stall_or_refuse(
            first_mode, lambda s: self._infobip_error(s, *INFOBIP_REFUSALS[s], v3=v3)
        ):
            return None
        bulk_id = uuid.uuid4().hex
        infos, posts = [], []
        for target in targets:
            mode = sim.mode_for(target["to"], target["mid"] or target["cb"])
            mid = target["mid"] or uuid.uuid4().hex
            with sim._lock:
                duplicate = mid in sim.infobip_logs
            status = IB_REJECTED if mode == "reject" else IB_PENDING
            if mode == "no_account" and shape != "sms3" and shape != "sms2":
                status, mode = IB_NOT_REGISTERED, "reject"  # refused, no report follows
            if duplicate:
                status = IB_DUPLICATE
            elif shape in ("sms3", "sms2"):
                self._infobip_log(target, mid, bulk_id, status)
            if status is IB_PENDING:
                sim.count_ref(target["mid"] or target["cb"], accepted=True)
            info = {"messageId": mid, "status": status}
            if v3:
                info.update(destination=target["to"], details={"messageCount": 1})
            else:
                info.update(to=target["to"], messageCount=1)
            infos.append(info)
            if mode != "reject" and not duplicate and target["url"]:
                posts += self._infobip_reports(target, mid, bulk_id, mode, shape)
        if posts:  # reported even if the sender dies before reading the answer
            sim.later(posts)
        if shape == "wa":
            self._json(200, infos[0])
        else:
            self._json(200, {"bulkId": bulk_id, "messages": infos})
        return None

    @staticmethod
    def _infobip_targets(shape: str, body: Any) -> list[dict[str, Any]]:
        """Each destination with its report URL and callbackData, per endpoint shape."""
        if not isinstance(body, dict):
            return []
        if shape == "wa":
            return [
                {
                    "to": body.get("to"),
                    "url": body.get("notifyUrl"),
                    "cb": body.get("callbackData"),
                    "mid": body.get("messageId"),
                }
            ]
        targets = []
        for message in body.get("messages") or []:
            if not isinstance(message, dict):
                continue
            if shape == "wa_bulk":
                url, cb = message.get("notifyUrl"), message.get("callbackData")
                mid = message.get("messageId")
                targets.append({"to": message.get("to"), "url": url, "cb": cb, "mid": mid})
                continue
            if shape in ("sms3", "viber"):
                hooks = message.get("webhooks") or {}
                url, cb = (hooks.get("delivery") or {}).get("url"), hooks.get("callbackData")
            else:
                url, cb = message.get("notifyUrl"), message.get("callbackData")
            text = (message.get("content") or {}).get("text") or message.get("text")
            for dest in message.get("destinations") or [{}]:
                dest = dest if isinstance(dest, dict) else {}
                targets.append(
                    {
                        "to": dest.get("to"),
                        "url": url,
                        "cb": cb,
                        "mid": dest.get("messageId"),
                        "sender": message.get("sender") or message.get("from"),
                        "text": text,
                    }
                )
        return targets

    def _infobip_log(self, target, mid: str, bulk_id: str, status: dict) -> None:
        """Keep the message's SmsLog entry, as GET /sms/3/logs answers it."""
        sim = self.simulator
        entry = {
            "sender": target.get("sender"),
            "destination": target["to"],
            "bulkId": bulk_id,
            "messageId": mid,
            "sentAt": _ib_time(),
            "doneAt": _ib_time(),
            "messageCount": 1,
            "price": {"pricePerMessage": 0.01, "currency": "EUR"},
            "status": status,
            "error": IB_NO_ERROR,
            "content": {"text": target.get("text") or ""},
        }
        with sim._lock:
            sim.infobip_logs[mid] = entry

    def _set_infobip_log_status(self, mid: str, status: dict, error: dict) -> None:
        sim = self.simulator
        with sim._lock:
            if mid in sim.infobip_logs:
                sim.infobip_logs[mid].update(status=status, error=error, doneAt=_ib_time())

    def _infobip_reports(self, target, mid: str, bulk_id: str, mode: str, shape: str) -> list:
        sim = self.simulator
        failed = mode == "bounce"
        report = {
            "bulkId": bulk_id,
            "messageId": mid,
            "to": target["to"],
            "sentAt": _ib_time(),
            "doneAt": _ib_time(),
            "price": {"pricePerMessage": 0.01, "currency": "EUR"},
            "status": IB_UNDELIVERABLE if failed else IB_DELIVERED,
            "error": IB_UNKNOWN_SUBSCRIBER if failed else IB_NO_ERROR,
            "callbackData": target["cb"],
        }
        report["smsCount" if shape == "sms2" else "messageCount"] = 1
        url = target["url"]

        def deliver():
            self._set_infobip_log_status(mid, report["status"], report["error"])
            return sim.post_webhook(url, body={"results": [report]}, attempts=REPORT_ATTEMPTS)

        posts = [deliver]
        if shape.startswith("wa") and not failed:
            seen = {"messageId": mid, "to": target["to"], "sentAt": report["sentAt"]}
            seen["seenAt"] = _ib_time()
            posts.append(
                lambda: sim.post_webhook(url, body={"results": [seen]}, attempts=REPORT_ATTEMPTS)
            )
        return posts
