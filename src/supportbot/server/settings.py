"""Server settings: limits, CORS, the admin token and background-task intervals."""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from supportbot.errors import SupportbotError

ADMIN_TOKEN_ENV = "SUPPORTBOT_ADMIN_TOKEN"
CORS_ORIGINS_ENV = "SUPPORTBOT_CORS_ORIGINS"

# environment variable -> setting name (numbers are read from text)
_ENV: dict[str, str] = {
    "SUPPORTBOT_MAX_BODY_BYTES": "max_body_bytes",
    "SUPPORTBOT_MAX_MESSAGE_CHARS": "max_message_chars",
    "SUPPORTBOT_RATE_LIMIT_PER_MINUTE": "rate_limit_per_minute",
    "SUPPORTBOT_RATE_LIMIT_BURST": "rate_limit_burst",
    "SUPPORTBOT_BACKGROUND_INTERVAL": "background_interval",
    "SUPPORTBOT_SHUTDOWN_TIMEOUT": "shutdown_timeout",
}


class SettingsError(SupportbotError, ValueError):
    """A server setting has an impossible value."""


@dataclass(frozen=True)
class ServerSettings:
    """How the HTTP server behaves. Build with `ServerSettings(...)` or `ServerSettings.from_env()`.

    `max_body_bytes`: larger request bodies get 413.
    `max_message_chars`: longer customer messages get 413 (the bot's own limit is 5,000).
    `rate_limit_per_minute` / `rate_limit_burst`: a token bucket per sender (REST `sender`, or
    the client address for `/model/parse`); 0 per minute turns the limit off. In memory: each
    server process counts on its own.
    `cors_origins`: origins allowed to call from a browser (`["*"]` for any); empty = no CORS.
    `admin_token`: the bearer token for admin endpoints (`PUT /model`, `GET /status`, trackers);
    None = admin endpoints refuse every call.
    `background_interval`: seconds between runs of the queue-timeout / SLA / business-hours
    checks; 0 = no background loop.
    `shutdown_timeout`: seconds a shutdown waits for turns in flight.
    """

    max_body_bytes: int = 64 * 1024
    max_message_chars: int = 5000
    rate_limit_per_minute: float = 60.0
    rate_limit_burst: int = 20
    cors_origins: tuple[str, ...] = ()
    admin_token: str | None = field(default=None, repr=False)
    background_interval: float = 15.0
    shutdown_timeout: float = 30.0

    def __post_init__(self) -> None:
        if self.max_body_bytes < 1:
            raise SettingsError(f"max_body_bytes must be at least 1, got {self.max_body_bytes}")
        if self.max_message_chars < 1:
            raise SettingsError(
                f"max_message_chars must be at least 1, got {self.max_message_chars}")
        if self.rate_limit_per_minute < 0:
            raise SettingsError("rate_limit_per_minute must be 0 (off) or more, got "
                                f"{self.rate_limit_per_minute}")
        if self.rate_limit_burst < 1:
            raise SettingsError(
                f"rate_limit_burst must be at least 1, got {self.rate_limit_burst}")
        if self.background_interval < 0:
            raise SettingsError("background_interval must be 0 (off) or more seconds, got "
                                f"{self.background_interval}")
        if self.shutdown_timeout < 0:
            raise SettingsError(
                f"shutdown_timeout must be 0 or more seconds, got {self.shutdown_timeout}")
        object.__setattr__(self, "cors_origins", tuple(self.cors_origins))
        if self.admin_token is not None and not self.admin_token.strip():
            object.__setattr__(self, "admin_token", None)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> ServerSettings:
        """Defaults, then `$SUPPORTBOT_*` variables, then `overrides` (None values are skipped).

        Reads $SUPPORTBOT_ADMIN_TOKEN, $SUPPORTBOT_CORS_ORIGINS (comma-separated),
        $SUPPORTBOT_MAX_BODY_BYTES, $SUPPORTBOT_MAX_MESSAGE_CHARS,
        $SUPPORTBOT_RATE_LIMIT_PER_MINUTE, $SUPPORTBOT_RATE_LIMIT_BURST,
        $SUPPORTBOT_BACKGROUND_INTERVAL and $SUPPORTBOT_SHUTDOWN_TIMEOUT.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        types = {f.name: f.type for f in fields(cls)}
        for var, name in _ENV.items():
            raw = env.get(var)
            if raw is None or not raw.strip():
                continue
            kind = int if types[name] in ("int", int) else float
            try:
                values[name] = kind(raw.strip())
            except ValueError:
                raise SettingsError(f"${var}={raw!r} is not a number") from None
        if env.get(ADMIN_TOKEN_ENV):
            values["admin_token"] = env[ADMIN_TOKEN_ENV]
        if env.get(CORS_ORIGINS_ENV):
            values["cors_origins"] = tuple(
                o.strip() for o in env[CORS_ORIGINS_ENV].split(",") if o.strip())
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def with_changes(self, **changes: Any) -> ServerSettings:
        """A copy with some settings changed."""
        return replace(self, **changes)
