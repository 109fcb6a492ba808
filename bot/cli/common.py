"""What every CLI command shares: settings, the database (migrated first), refusals as one line."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy.orm import Session

from bot.config import ConfigError, Settings, get_settings
from core.errors import Refused
from core.orgs import command_line_user, default_organization
from storage import Database, upgrade
from storage.models import User

console = Console()
err_console = Console(stderr=True)


def fail(reason: str, code: int = 1) -> NoReturn:
    """Print a one-line reason on stderr and exit non-zero."""
    err_console.print(f"[bold red]error:[/] {escape(reason)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def settings() -> Settings:
    try:
        return get_settings()
    except ConfigError as exc:
        fail(str(exc))


def open_database(migrate: bool = True) -> Database:
    """The configured database, upgraded to the newest schema first."""
    cfg = settings()
    if migrate:
        try:
            upgrade(cfg.database_url)
        except Exception as exc:  # a bad URL or an unreachable server: say which, in one line
            fail(f"cannot open the database {_redact(cfg.database_url)}: {exc.__class__.__name__}: {exc}")
    return Database(cfg.database_url)


def login() -> str:
    """The operator's OS login name, which names them as the command-line owner."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name in the environment or the password database
        return "operator"


def cli_actor(session: Session) -> User:
    """The person at the command line, as the organization's owner (core.orgs.command_line_user).

    Core checks the role of every admin action; whoever runs the CLI on the server acts as an owner.
    """
    org = default_organization(session, settings().organization_name)
    return command_line_user(session, org, login())


@contextmanager
def refusals() -> Iterator[None]:
    """Turn core's refusals into a one-line error and exit code 1."""
    try:
        yield
    except Refused as exc:
        fail(exc.reason)


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(unparseable URL)"
