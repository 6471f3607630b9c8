"""`credentials.yml`: which channels the server opens, with Rasa's keys.

```yaml
rest:                                  # always on; the section may be empty
socketio:
  user_message_evt: user_uttered
  bot_message_evt: bot_uttered
  session_persistence: true
telegram:
  access_token: "${TELEGRAM_TOKEN}"
  verify: my_bot_name
  webhook_url: https://bot.example.com/webhooks/telegram/webhook
  secret_token: "${TELEGRAM_SECRET}"   # optional, recommended
slack:
  slack_token: "${SLACK_TOKEN}"
  slack_signing_secret: "${SLACK_SIGNING_SECRET}"
  slack_channel: C0123456              # optional: always answer in this channel
facebook:
  verify: my-verify-token
  secret: "${FB_APP_SECRET}"
  page-access-token: "${FB_PAGE_TOKEN}"
whatsapp:                              # supportbot's own keys (Rasa has no WhatsApp channel)
  access_token: "${WHATSAPP_TOKEN}"
  phone_number_id: "123456789"
  verify_token: my-verify-token
  app_secret: "${WHATSAPP_APP_SECRET}"
```

Every channel with a platform API also takes `api_url` (the API's base URL; default the real
one), `retry_attempts` (default 4) and `retry_backoff` (seconds, default 0.5). `${NAME}` is
replaced by the environment variable NAME; problems are reported with file and line.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from supportbot.errors import Problem, ProjectError
from supportbot.project.endpoints import _expand_env
from supportbot.project.yamlio import line_of, read_yaml_file

log = logging.getLogger("supportbot.channels")

CREDENTIALS_FILE = "credentials.yml"

_COMMON = {"api_url": "", "retry_attempts": 4, "retry_backoff": 0.5}

# channel -> (required keys, optional keys with defaults)
CHANNEL_KEYS: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "rest": ((), {}),
    "socketio": ((), {"user_message_evt": "user_uttered", "bot_message_evt": "bot_uttered",
                      "session_persistence": False, "namespace": None,
                      "metadata_key": "customData", "cors_allowed_origins": "*"}),
    "telegram": (("access_token", "verify"), {"webhook_url": None, "secret_token": None,
                                               **_COMMON}),
    "slack": (("slack_token", "slack_signing_secret"), {"slack_channel": None,
                                                       "slack_retry_reason_header": None,
                                                       "slack_retry_number_header": None,
                                                       "use_threads": False, **_COMMON}),
    "facebook": (("verify", "secret", "page-access-token"), dict(_COMMON)),
    "whatsapp": (("access_token", "phone_number_id", "verify_token", "app_secret"),
                 dict(_COMMON)),
}

# Rasa's class paths, accepted as names of the same channels
_ALIASES = {
    "rasa.core.channels.rest.RestInput": "rest",
    "rasa.core.channels.socketio.SocketIOInput": "socketio",
    "rasa.core.channels.telegram.TelegramInput": "telegram",
    "rasa.core.channels.slack.SlackInput": "slack",
    "rasa.core.channels.facebook.FacebookInput": "facebook",
}


@dataclass(frozen=True)
class Credentials:
    """The channels to open: name -> settings (defaults filled in, `${ENV}` expanded)."""

    channels: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    file: str | None = None

    def __contains__(self, name: object) -> bool:
        return name in self.channels

    def get(self, name: str) -> Mapping[str, Any] | None:
        return self.channels.get(name)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None, file: str = "<credentials>"
                     ) -> Credentials:
        """Check and complete a mapping shaped like credentials.yml (raises `ProjectError`)."""
        problems: list[Problem] = []
        channels = _check(data or {}, file, problems)
        if any(p.severity == "error" for p in problems):
            raise ProjectError(problems)
        for problem in problems:
            log.warning("%s", problem)
        return cls(channels, file)


def read_credentials(path: str | os.PathLike[str]) -> Credentials:
    """Read a Rasa-style `credentials.yml` (a missing file is an error here: the caller decides
    whether the file is optional). Raises `ProjectError` with file:line for every problem."""
    path = Path(path)
    if path.is_dir():
        path = path / CREDENTIALS_FILE
    file = str(path)
    if not path.is_file():
        raise ProjectError([Problem("error", "credentials file not found", file,
                                    hint="write a credentials.yml or leave out --credentials",
                                    code="missing-file")])
    data, problems = read_yaml_file(path, file)
    if any(p.severity == "error" for p in problems):
        raise ProjectError(problems)
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ProjectError([Problem("error", "credentials.yml must be a mapping of channel "
                                    "names (rest, socketio, telegram, ...)", file,
                                    line_of(data, default=1), code="wrong-type")])
    data = _expand_env(data, file, problems)
    channels = _check(data, file, problems)
    if any(p.severity == "error" for p in problems):
        raise ProjectError(problems)
    for problem in problems:
        log.warning("%s", problem)
    return Credentials(channels, file)


def _check(data: Mapping[str, Any], file: str, problems: list[Problem]
           ) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for raw_name, section in data.items():
        line = line_of(data, raw_name) or None
        name = _ALIASES.get(str(raw_name), str(raw_name))
        if name not in CHANNEL_KEYS:
            problems.append(Problem(
                "warning", f"unknown channel {raw_name!r} is ignored", file, line,
                hint=f"supported channels: {', '.join(CHANNEL_KEYS)}", code="unknown-channel"))
            continue
        if section is None:
            section = {}
        if not isinstance(section, Mapping):
            problems.append(Problem("error", f"channel {raw_name!r} must be a mapping of "
                                    "settings", file, line, code="wrong-type"))
            continue
        required, optional = CHANNEL_KEYS[name]
        values: dict[str, Any] = dict(optional)
        for key, value in section.items():
            key_line = line_of(section, key, line or 0) or line
            if key not in required and key not in optional:
                problems.append(Problem(
                    "warning", f"{name}: unknown key {key!r} is ignored", file, key_line,
                    hint=f"known keys: {', '.join((*required, *optional))}", code="unknown-key"))
                continue
            values[key] = value
        for key in required:
            value = values.get(key)
            if value is None or (isinstance(value, str) and not value.strip()):
                problems.append(Problem("error", f"{name}: `{key}` is missing or empty", file,
                                        line, hint=f"{name} needs {', '.join(required)}",
                                        code="missing-key"))
            elif not isinstance(value, str):
                values[key] = str(value)
        for key in ("retry_attempts", "retry_backoff"):
            if key in values:
                value = values[key]
                number = _number(value)
                if number is None or number < (1 if key == "retry_attempts" else 0):
                    problems.append(Problem("error", f"{name}: `{key}` must be a number "
                                            f"{'of at least 1' if key == 'retry_attempts' else '>= 0'}"
                                            f", got {value!r}", file,
                                            line_of(section, key, line or 0) or line,
                                            code="wrong-type"))
                else:
                    values[key] = int(number) if key == "retry_attempts" else number
        for key in ("session_persistence", "use_threads"):
            if key in values and isinstance(values[key], str):
                values[key] = values[key].strip().lower() in ("true", "yes", "1", "on")
        out[name] = values
    out.setdefault("rest", {})
    return out


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
