"""Real ``textbank run`` processes for tests and benchmarks: started with their own environment and port,
waited for on ``/healthz``, stopped with SIGTERM (as a service manager would), logs kept in files."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from core import orgs
from storage.models import Organization, User
from tests.bot.slack.standin import TEAM_ID

START_TIMEOUT = 90.0  # importing slack_bolt, twilio and SQLAlchemy on a busy machine takes seconds
STOP_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class TextbankProcess:
    popen: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def start_textbank(env: Mapping[str, str], count: int, folder: Path) -> list[TextbankProcess]:
    """``count`` ``textbank run`` processes with ``env`` over this one's, each on a free port, healthy."""
    processes = []
    try:
        for index in range(count):
            port = free_port()
            log = folder / f"textbank-{index}.log"
            with log.open("wb") as sink:
                popen = subprocess.Popen(
                    [sys.executable, "-c", "from bot.cli import main; main()", "run"],
                    env={**os.environ, **env, "TEXTBANK_PORT": str(port), "TEXTBANK_HOST": "127.0.0.1"},
                    cwd=folder,  # no stray .env
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                )
            processes.append(TextbankProcess(popen, port, log))
        for process in processes:
            wait_healthy(process)
    except BaseException:
        stop_textbank(processes)
        raise
    return processes


def wait_healthy(process: TextbankProcess, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            raise RuntimeError(f"textbank run exited with {process.popen.returncode}:\n{process.log_text()}")
        try:
            with urllib.request.urlopen(process.url + "/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError(
        f"textbank run on port {process.port} not healthy in {timeout:g}s:\n{process.log_text()}"
    )


def stop_textbank(processes: list[TextbankProcess]) -> list[int | None]:
    """SIGTERM each (in-flight texts finish first), then wait; a process that hangs is killed. Exit codes."""
    for process in processes:
        if process.popen.poll() is None:
            process.popen.send_signal(signal.SIGTERM)
    codes = []
    for process in processes:
        try:
            codes.append(process.popen.wait(STOP_TIMEOUT))
        except subprocess.TimeoutExpired:
            process.popen.kill()
            process.popen.wait()
            codes.append(None)
    return codes


def slack_admin(session: Session, org: Organization) -> User:
    """The organization's Slack workspace (the stand-in's team) linked, and its admin ``UADMIN``."""
    orgs.link_workspace(session, org, "slack", TEAM_ID)
    return orgs.ensure_user(
        session,
        org,
        platform="slack",
        workspace_id=TEAM_ID,
        platform_user_id="UADMIN",
        name="Ada",
        role="admin",
    )
