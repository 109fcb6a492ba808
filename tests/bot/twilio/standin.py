"""A local stand-in for Twilio's REST API, for driving the real twilio Client without the internet.

It listens on 127.0.0.1 (port 0), records every request (path, form fields, arrival time) and answers
from a script of replies (then ``default``): 201 with a message JSON, 429 with Retry-After, 500, a Twilio
error body, a dropped connection, or a reply held until the test releases it.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "test-auth-token"
STATS_PATH = "/_standin/stats"


@dataclass(frozen=True)
class Reply:
    status: int = 201
    body: dict | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    # Hold the answer until this event is set (the request is recorded first).
    hold: threading.Event | None = None
    # Close the connection without answering (after the request was read).
    drop: bool = False
    # The SID of the message created (a fresh random one when None).
    sid: str | None = None


def created(sid: str | None = None, hold: threading.Event | None = None) -> Reply:
    return Reply(201, sid=sid, hold=hold)


def too_many(retry_after: float = 1) -> Reply:
    return Reply(
        429,
        {"code": 20429, "message": "Too Many Requests", "status": 429},
        {"Retry-After": f"{retry_after:g}"},
    )


def server_error(status: int = 500) -> Reply:
    return Reply(status, {"code": 20500, "message": "Internal Server Error", "status": status})


def twilio_error(code: int, message: str = "refused", status: int = 400) -> Reply:
    return Reply(status, {"code": code, "message": message, "more_info": "", "status": status})


@dataclass
class Recorded:
    method: str
    path: str
    form: dict[str, list[str]]
    headers: dict[str, str]
    at: float
    sid: str | None = None

    def field(self, name: str) -> str | None:
        values = self.form.get(name)
        return values[0] if values else None


class TwilioStandIn:
    def __init__(self, default: Reply | None = None) -> None:
        self.default = default or created()
        self.requests: list[Recorded] = []
        self._script: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._holds: list[threading.Event] = []
        self.request_seen = threading.Condition(self._lock)

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def answer(self, *replies: Reply) -> None:
        """The next requests get these replies, in order (then ``default``)."""
        with self._lock:
            self._script.extend(replies)
            self._holds.extend(r.hold for r in replies if r.hold is not None)

    def messages(self) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.method == "POST" and r.path.endswith("/Messages.json")]

    def wait_for(self, count: int, timeout: float = 60.0) -> list[Recorded]:
        """Block until at least ``count`` message requests arrived."""
        deadline = time.monotonic() + timeout
        with self.request_seen:
            while True:
                found = [r for r in self.requests if r.path.endswith("/Messages.json")]
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"the stand-in saw {len(found)} message requests, expected {count}")
                self.request_seen.wait(remaining)

    def start(self) -> TwilioStandIn:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes; without TCP_NODELAY, Nagle + delayed ACK add 40 ms.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self._handle()

            def do_POST(self) -> None:
                self._handle()

            def _handle(self) -> None:
                if self.path == STATS_PATH:  # for a stand-in in another process (benchmarks)
                    self._stats()
                    return
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                parts = urlsplit(self.path)
                record = Recorded(
                    method=self.command,
                    path=parts.path,
                    form=parse_qs(raw, keep_blank_values=True),
                    headers={k: v for k, v in self.headers.items()},
                    at=time.monotonic(),
                )
                with standin.request_seen:
                    reply = standin._script.popleft() if standin._script else standin.default
                    standin.requests.append(record)
                    standin.request_seen.notify_all()
                if reply.hold is not None:
                    reply.hold.wait(30)
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.drop:
                    self.close_connection = True
                    self.connection.close()
                    return
                body = reply.body
                if body is None:
                    record.sid = reply.sid or "SM" + uuid.uuid4().hex
                    body = {
                        "sid": record.sid,
                        "account_sid": ACCOUNT_SID,
                        "to": record.field("To"),
                        "from": record.field("From"),
                        "messaging_service_sid": record.field("MessagingServiceSid"),
                        "body": record.field("Body"),
                        "status": "accepted" if record.field("MessagingServiceSid") else "queued",
                        "num_segments": "1",
                        "direction": "outbound-api",
                        "uri": f"{parts.path[: -len('.json')]}/{record.sid}.json",
                    }
                data = json.dumps(body).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the caller is gone (a killed sender): nobody to answer
                    self.close_connection = True

            def _stats(self) -> None:
                data = json.dumps({"messages": len(standin.messages())}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="twilio-standin", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._lock:
            for hold in self._holds:
                hold.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> TwilioStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
