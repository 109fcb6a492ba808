"""Configuration, read once from the environment and a ``.env`` file (environment wins).

The names are a contract (see DESIGN.md): scripts and deployments depend on them.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from dotenv import dotenv_values

DEFAULT_DATABASE_URL = "sqlite:///textbank.db"
# Provider calls in flight at once: each holds a thread and, on PostgreSQL, a connection.
MAX_SMS_WORKERS = 64


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    public_url: str = ""
    host: str = "127.0.0.1"
    port: int = 8080
    slack_bot_token: str = ""
    slack_signing_secret: str = ""
    slack_app_token: str = ""
    slack_api_url: str = ""
    discord_token: str = ""
    discord_api_url: str = ""
    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    twilio_messaging_service_sid: str = ""
    twilio_from_number: str = ""
    twilio_api_url: str = ""
    sms: str = "console"  # twilio | console
    # Texts per second per sending identity (None = the sender's default for its kind, 0 = no limit).
    sms_rate: float | None = None
    sms_workers: int = 4
    default_region: str = "US"
    organization_name: str = "textbank"

    @property
    def twilio_configured(self) -> bool:
        return bool(
            self.twilio_account_sid
            and self.twilio_auth_token
            and (self.twilio_messaging_service_sid or self.twilio_from_number)
        )

    @property
    def sender(self) -> str:
        """Our sending identity: the Messaging Service SID if set, else the from number."""
        return self.twilio_messaging_service_sid or self.twilio_from_number or "console"


class ConfigError(ValueError):
    """A setting that cannot be used, with the variable's name and the fix."""


def load_settings(env: Mapping[str, str] | None = None, env_file: str | Path | None = ".env") -> Settings:
    """Build settings from ``env`` (default ``os.environ``) over the values of ``env_file``."""
    values: dict[str, str] = {}
    if env_file is not None and Path(env_file).is_file():
        values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    values.update(os.environ if env is None else env)

    def get(name: str, default: str = "") -> str:
        return values.get(name, default).strip()

    port_text = get("TEXTBANK_PORT", "8080")
    try:
        port = int(port_text)
    except ValueError as exc:
        raise ConfigError(f"TEXTBANK_PORT={port_text!r} is not a port number") from exc
    if not 0 <= port <= 65535:
        raise ConfigError(f"TEXTBANK_PORT={port_text} is not a port number: use 1 to 65535 (0: any free)")
    rate_text = get("TEXTBANK_SMS_RATE")
    try:
        sms_rate = float(rate_text) if rate_text else None
    except ValueError as exc:
        raise ConfigError(
            f"TEXTBANK_SMS_RATE={rate_text!r} is not a number: texts per second, e.g. 1 or 0.5 (0 = no limit)"
        ) from exc
    if sms_rate is not None and not 0 <= sms_rate < math.inf:  # nan and inf too
        raise ConfigError(f"TEXTBANK_SMS_RATE={rate_text} must be 0 (no limit) or more, e.g. 1 or 0.5")
    workers_text = get("TEXTBANK_SMS_WORKERS", "4") or "4"
    try:
        sms_workers = int(workers_text)
    except ValueError as exc:
        raise ConfigError(f"TEXTBANK_SMS_WORKERS={workers_text!r} is not a whole number, e.g. 4") from exc
    if not 1 <= sms_workers <= MAX_SMS_WORKERS:
        raise ConfigError(f"TEXTBANK_SMS_WORKERS={sms_workers} must be from 1 to {MAX_SMS_WORKERS}")
    settings = Settings(
        database_url=get("TEXTBANK_DATABASE_URL", DEFAULT_DATABASE_URL) or DEFAULT_DATABASE_URL,
        public_url=get("TEXTBANK_PUBLIC_URL").rstrip("/"),
        host=get("TEXTBANK_HOST", "127.0.0.1") or "127.0.0.1",
        port=port,
        slack_bot_token=get("SLACK_BOT_TOKEN"),
        slack_signing_secret=get("SLACK_SIGNING_SECRET"),
        slack_app_token=get("SLACK_APP_TOKEN"),
        slack_api_url=get("SLACK_API_URL"),
        discord_token=get("DISCORD_TOKEN"),
        discord_api_url=get("DISCORD_API_URL").rstrip("/"),
        twilio_account_sid=get("TWILIO_ACCOUNT_SID"),
        twilio_auth_token=get("TWILIO_AUTH_TOKEN"),
        twilio_messaging_service_sid=get("TWILIO_MESSAGING_SERVICE_SID"),
        twilio_from_number=get("TWILIO_FROM_NUMBER"),
        twilio_api_url=get("TWILIO_API_URL").rstrip("/"),
        default_region=(get("TEXTBANK_DEFAULT_REGION", "US") or "US").upper(),
        organization_name=get("TEXTBANK_ORG_NAME", "textbank") or "textbank",
        sms_rate=sms_rate,
        sms_workers=sms_workers,
    )
    sms = get("TEXTBANK_SMS").lower()
    if not sms:
        sms = "twilio" if settings.twilio_configured else "console"
    if sms not in ("twilio", "console"):
        raise ConfigError(f"TEXTBANK_SMS={sms!r}: use twilio or console")
    if sms == "twilio" and not settings.twilio_configured:
        raise ConfigError(
            "TEXTBANK_SMS=twilio needs TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and "
            "TWILIO_MESSAGING_SERVICE_SID or TWILIO_FROM_NUMBER"
        )
    return Settings(**{**settings.__dict__, "sms": sms})


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once."""
    return load_settings()
