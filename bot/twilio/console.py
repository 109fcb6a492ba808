"""The console gateway (``TEXTBANK_SMS=console``): texts are printed here instead of sent.

Outbound texts go through the same outbox and sender as with Twilio and are marked sent with a local
SID; ``textbank sms receive`` feeds a reply through the same core path as the inbound webhook, so the
whole loop can be tried without a Twilio account.
"""

from __future__ import annotations

import threading
import uuid

from rich.console import Console
from rich.panel import Panel
from rich.text import Text

from bot.twilio.sender import Outcome
from core.outbox import OutboundJob

CONSOLE_SENDER = "console"


def local_sid(prefix: str = "SMconsole") -> str:
    """A SID-shaped identifier that cannot collide with Twilio's (34 characters, like theirs)."""
    return prefix + uuid.uuid4().hex[: 34 - len(prefix)]


class ConsoleGateway:
    default_sender = CONSOLE_SENDER

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console()
        self._lock = threading.Lock()

    def describe(self) -> str:
        return "console (texts are printed here, not sent; reply with `textbank sms receive`)"

    def send(self, job: OutboundJob, identity: str) -> Outcome:
        sid = local_sid()
        title = f"SMS to {job.cell} from {identity} (message {job.message_id}, campaign {job.campaign_id})"
        body = Text(job.body)
        for url in job.media:
            body.append(f"\n[media] {url}", style="dim")
        with self._lock:  # several sender threads print; keep each panel whole
            self.console.print(
                Panel(body, title=title, title_align="left", subtitle=sid, subtitle_align="right")
            )
        return Outcome("sent", sid=sid)
