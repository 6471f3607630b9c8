"""Reading a Rasa-style `endpoints.yml`: where the action server (and later the stores) live.

    action_endpoint:
      url: "http://localhost:5055/webhook"
      token: "${ACTION_SERVER_TOKEN}"   # optional; sent as the `token` query parameter
      timeout: 10                       # seconds (supportbot extension; default 10)

Runtime backends come from the operator, never from a model archive, so this file is read when a
bot starts, not at training time. `${NAME}` in any text value is replaced by the environment
variable NAME, as Rasa does; an unset variable is an error naming the file and line. The
`SUPPORTBOT_ACTION_ENDPOINT` variable is read by the caller (see `action_endpoint_from_url`).

    email:                              # or `smtp:`; agents' replies to tickets that left an
      host: smtp.example.com            # email address outside business hours
      port: 587                         # default 465 with ssl, else 25
      username: bot@example.com         # optional
      password: "${SMTP_PASSWORD}"
      from: "Shop support <support@example.com>"   # From and Reply-To
      starttls: true                    # or `ssl: true`
      timeout: 10
"""
from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeGuard
from urllib.parse import urlsplit, urlunsplit

from supportbot.errors import ActionError, Problem, ProjectError
from supportbot.handoff.email import DEFAULT_SMTP_TIMEOUT, DEFAULT_SUBJECT, SmtpConfig
from supportbot.project.yamlio import LineList, LineMap, line_of, read_yaml_file

log = logging.getLogger(__name__)

ENDPOINTS_FILE = "endpoints.yml"
DEFAULT_ACTION_TIMEOUT = 10.0
"""Seconds to wait for the action server (Rasa waits 300 s; a customer will not)."""

_ENV_VAR = re.compile(r"\$\{([^}]*)\}")
_ACTION_KEYS = ("url", "token", "token_name", "timeout", "headers", "params", "basic_auth",
                "cafile")
_RASA_ONLY_KEYS = ("enable_selective_domain", "type", "store_type")
"""Keys Rasa accepts under `action_endpoint:` that supportbot reads and does not need."""


@dataclass(frozen=True)
class ActionEndpoint:
    """Where custom actions run: a Rasa-compatible action server's webhook URL.

    `token` is sent as the query parameter `token_name` (Rasa's `EndpointConfig` does the same);
    `headers` and `params` go with every request; `basic_auth` is (username, password);
    `cafile` verifies an HTTPS server against this CA bundle.
    """

    url: str
    token: str | None = None
    timeout: float = DEFAULT_ACTION_TIMEOUT
    token_name: str = "token"
    headers: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    basic_auth: tuple[str, str] | None = None
    cafile: str | None = None

    @property
    def display_url(self) -> str:
        """The URL without credentials or query string: safe for logs and error messages."""
        return safe_url(self.url)

    def __repr__(self) -> str:  # never print the token or the password
        token = ", token=***" if self.token else ""
        return f"ActionEndpoint(url={self.display_url!r}{token}, timeout={self.timeout:g})"


@dataclass(frozen=True)
class Endpoints:
    """What `endpoints.yml` configures. Every field is None when the file (or key) is absent.

    `tracker_store` and `lock_store` are kept as read (with `${...}` expanded) for the stores to
    interpret; `problems` holds warnings about keys that were read but are not used.
    """

    action_endpoint: ActionEndpoint | None = None
    tracker_store: Mapping[str, Any] | None = None
    lock_store: Mapping[str, Any] | None = None
    email: SmtpConfig | None = None
    file: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)
    problems: tuple[Problem, ...] = ()


def safe_url(url: str) -> str:
    """`url` without user:password and without the query string (which may hold a token)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid URL>"
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def action_endpoint_from_url(url: str, *, token: str | None = None,
                             timeout: float = DEFAULT_ACTION_TIMEOUT) -> ActionEndpoint:
    """An `ActionEndpoint` for `url` (e.g. the value of `$SUPPORTBOT_ACTION_ENDPOINT`).

    Raises `ActionError` when `url` is not an http(s) URL or `timeout` is not positive.
    """
    problem = _url_problem(url)
    if problem:
        raise ActionError(f"action endpoint {safe_url(str(url))!r}: {problem}")
    if not _positive_number(timeout):
        raise ActionError(f"action endpoint timeout must be a positive number of seconds, "
                          f"got {timeout!r}")
    return ActionEndpoint(url=url, token=token or None, timeout=float(timeout))


def read_endpoints(root: str | os.PathLike[str]) -> Endpoints:
    """Read `endpoints.yml` in the project folder `root` (or the file `root` itself).

    A missing file gives `Endpoints()` with nothing set. Raises `ProjectError` (every problem,
    with file and line) for YAML errors, wrong types and unset `${VARIABLES}`.
    """
    path = Path(root)
    if path.is_dir():
        path = path / ENDPOINTS_FILE
    if not path.is_file():
        return Endpoints()
    file = path.name
    data, problems = read_yaml_file(path, file)
    if any(p.severity == "error" for p in problems):
        raise ProjectError(problems)
    if data is None:
        return Endpoints(file=file, problems=tuple(problems))
    if not isinstance(data, dict):
        raise ProjectError([Problem("error", "endpoints.yml must be a mapping of endpoint names "
                                    "(action_endpoint, tracker_store, ...)", file,
                                    line_of(data, default=1), code="wrong-type")])
    data = _expand_env(data, file, problems)
    action = _read_action_endpoint(data, file, problems)
    stores = {key: _read_store(data, key, file, problems) for key in ("tracker_store", "lock_store")}
    email = _read_email(data, file, problems)
    if any(p.severity == "error" for p in problems):
        raise ProjectError(problems)
    for problem in problems:
        log.warning("%s", problem)
    return Endpoints(action_endpoint=action, tracker_store=stores["tracker_store"],
                     lock_store=stores["lock_store"], email=email, file=file, raw=data,
                     problems=tuple(problems))


# ------------------------------------------------------------------ helpers


def _expand_env(value: Any, file: str, problems: list[Problem], line: int = 0) -> Any:
    """A copy of `value` with `${NAME}` replaced in every string (keeps LineMap/LineList lines)."""
    if isinstance(value, dict):
        out = LineMap()
        if isinstance(value, LineMap):
            out.line, out.key_lines, out.value_lines = value.line, value.key_lines, value.value_lines
        for key, item in value.items():
            out[key] = _expand_env(item, file, problems, line_of(value, key, line))
        return out
    if isinstance(value, list):
        items = LineList()
        if isinstance(value, LineList):
            items.line, items.item_lines = value.line, value.item_lines
        items.extend(_expand_env(item, file, problems, line_of(value, i, line))
                     for i, item in enumerate(value))
        return items
    if isinstance(value, str) and "${" in value:
        return _expand_string(value, file, problems, line)
    return value


def _expand_string(value: str, file: str, problems: list[Problem], line: int) -> str:
    """`${NAME}` -> os.environ[NAME]; an unset or malformed name adds an error."""
    missing: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in os.environ:
            return os.environ[name]
        missing.append(name)
        return match.group(0)

    expanded = _ENV_VAR.sub(replace, value)
    for name in missing:
        problems.append(Problem(
            "error", f"environment variable {name!r} is not set", file, line or None,
            hint=f"set {name} before starting the bot, or write the value into the file",
            code="env-var"))
    return expanded


def _read_action_endpoint(data: Mapping[str, Any], file: str,
                          problems: list[Problem]) -> ActionEndpoint | None:
    """`action_endpoint:` -> ActionEndpoint (None when absent or null)."""
    section = data.get("action_endpoint")
    if section is None:
        return None
    line = line_of(data, "action_endpoint")
    if isinstance(section, str):  # shorthand some people write: `action_endpoint: http://...`
        section = {"url": section}
    if not isinstance(section, Mapping):
        problems.append(Problem("error", "`action_endpoint` must be a mapping with a `url`",
                                file, line, hint='write `action_endpoint: {url: '
                                '"http://localhost:5055/webhook"}`', code="wrong-type"))
        return None
    errors_before = sum(p.severity == "error" for p in problems)
    for key in section:
        if key not in _ACTION_KEYS and key not in _RASA_ONLY_KEYS:
            problems.append(Problem(
                "warning", f"`action_endpoint`: key {key!r} is not used", file,
                line_of(section, key, line), hint=f"known keys: {', '.join(_ACTION_KEYS)}",
                code="unknown-key"))

    def where(key: str) -> int:
        return line_of(section, key, line)

    def error(key: str, message: str, hint: str | None = None) -> None:
        problems.append(Problem("error", f"`action_endpoint.{key}` {message}", file, where(key),
                                hint=hint, code="wrong-type"))

    url = section.get("url")
    if url is None:
        problems.append(Problem("error", "`action_endpoint` has no `url`", file, line,
                                hint='add `url: "http://localhost:5055/webhook"`',
                                code="missing-key"))
    elif (url_problem := _url_problem(url)) is not None:
        error("url", url_problem, 'e.g. "http://localhost:5055/webhook"')
    token = _optional_text(section, "token", error)
    token_name = _optional_text(section, "token_name", error) or "token"
    cafile = _optional_text(section, "cafile", error)
    raw_timeout = section.get("timeout", DEFAULT_ACTION_TIMEOUT)
    # `timeout: ${ACTION_TIMEOUT}` expands to text
    timeout = _to_float(raw_timeout) if isinstance(raw_timeout, str) else raw_timeout
    seconds = float(timeout) if _positive_number(timeout) else DEFAULT_ACTION_TIMEOUT
    if not _positive_number(timeout):
        error("timeout", f"must be a positive number of seconds, got {raw_timeout!r}",
              "e.g. `timeout: 10`")
    headers = _text_mapping(section, "headers", error)
    params = _text_mapping(section, "params", error)
    basic_auth = _basic_auth(section, error)
    if sum(p.severity == "error" for p in problems) > errors_before or not isinstance(url, str):
        return None
    return ActionEndpoint(url=url, token=token or None, timeout=seconds,
                          token_name=token_name, headers=headers, params=params,
                          basic_auth=basic_auth, cafile=cafile)


_EMAIL_KEYS = ("host", "port", "username", "password", "from", "from_address", "starttls", "ssl",
               "timeout", "retries", "retry_delay", "subject")


def _read_email(data: Mapping[str, Any], file: str,
                problems: list[Problem]) -> SmtpConfig | None:
    """`email:` (or `smtp:`) -> SmtpConfig (None when absent or null)."""
    name = "email" if data.get("email") is not None else "smtp"
    section = data.get(name)
    if section is None:
        return None
    line = line_of(data, name)
    if not isinstance(section, Mapping):
        problems.append(Problem("error", f"`{name}` must be a mapping with `host` and `from`",
                                file, line, hint=f"write `{name}: {{host: smtp.example.com, "
                                "port: 587, from: support@example.com, starttls: true}`",
                                code="wrong-type"))
        return None
    errors_before = sum(p.severity == "error" for p in problems)
    for key in section:
        if key not in _EMAIL_KEYS:
            problems.append(Problem(
                "warning", f"`{name}`: key {key!r} is not used", file,
                line_of(section, key, line), hint=f"known keys: {', '.join(_EMAIL_KEYS)}",
                code="unknown-key"))

    def error(key: str, message: str, hint: str | None = None) -> None:
        problems.append(Problem("error", f"`{name}.{key}` {message}", file,
                                line_of(section, key, line), hint=hint, code="wrong-type"))

    def flag(key: str) -> bool:
        value = section.get(key, False)
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no"):
            return value.strip().lower() in ("true", "yes")
        if not isinstance(value, bool):
            error(key, f"must be true or false, got {value!r}")
            return False
        return value

    def number(key: str, default: float, minimum: float) -> float:
        raw = section.get(key, default)
        value = _to_float(raw) if isinstance(raw, str) else raw
        if (isinstance(value, bool) or not isinstance(value, (int, float))
                or not math.isfinite(value) or value < minimum):
            error(key, f"must be a number of at least {minimum:g}, got {raw!r}")
            return default
        return float(value)

    host = _optional_text(section, "host", error)
    sender = _optional_text(section, "from", error) or _optional_text(section, "from_address",
                                                                      error)
    if not host:
        problems.append(Problem("error", f"`{name}` has no `host`", file, line,
                                hint="add `host: smtp.example.com`", code="missing-key"))
    if not sender or "@" not in sender:
        problems.append(Problem("error", f"`{name}` needs `from`: the shop's email address",
                                file, line, hint='add `from: "support@example.com"`',
                                code="missing-key"))
    use_ssl, starttls = flag("ssl"), flag("starttls")
    if use_ssl and starttls:
        error("starttls", "cannot be combined with `ssl: true` (choose one)")
    port = number("port", 465 if use_ssl else 25, 1)
    if port != int(port) or port > 65535:
        error("port", f"must be a whole number from 1 to 65535, got {section.get('port')!r}")
    timeout = number("timeout", DEFAULT_SMTP_TIMEOUT, 0.001)
    retries = number("retries", 2, 0)
    retry_delay = number("retry_delay", 1.0, 0)
    subject = _optional_text(section, "subject", error) or DEFAULT_SUBJECT
    username = _optional_text(section, "username", error)
    password = _optional_text(section, "password", error)
    if sum(p.severity == "error" for p in problems) > errors_before or not host or not sender:
        return None
    return SmtpConfig(host=host, from_address=sender, port=int(port), username=username or None,
                      password=password, starttls=starttls, ssl=use_ssl, timeout=timeout,
                      retries=int(retries), retry_delay=retry_delay, subject=subject)


def _read_store(data: Mapping[str, Any], key: str, file: str,
                problems: list[Problem]) -> Mapping[str, Any] | None:
    """`tracker_store:` / `lock_store:` kept as a plain dict (validated by the stores)."""
    section = data.get(key)
    if section is None:
        return None
    if not isinstance(section, Mapping):
        problems.append(Problem("error", f"`{key}` must be a mapping (e.g. `type: redis`)", file,
                                line_of(data, key), code="wrong-type"))
        return None
    return _plain(section)


def _plain(value: Any) -> Any:
    """LineMap/LineList -> dict/list, recursively."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _optional_text(section: Mapping[str, Any], key: str, error: Any) -> str | None:
    value = section.get(key)
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        error(key, "must be text")
        return None
    return value


def _text_mapping(section: Mapping[str, Any], key: str, error: Any) -> dict[str, str]:
    value = section.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping) or any(isinstance(v, (dict, list)) for v in value.values()):
        error(key, "must be a mapping of names to text values")
        return {}
    return {str(k): str(v) for k, v in value.items() if v is not None}


def _basic_auth(section: Mapping[str, Any], error: Any) -> tuple[str, str] | None:
    value = section.get("basic_auth")
    if value is None:
        return None
    if (not isinstance(value, Mapping) or not isinstance(value.get("username"), str)
            or not isinstance(value.get("password"), str)):
        error("basic_auth", "must be a mapping with `username` and `password`")
        return None
    return value["username"], value["password"]


def _url_problem(url: Any) -> str | None:
    """Why `url` cannot be an action server URL, or None."""
    if not isinstance(url, str) or not url.strip():
        return "must be a non-empty URL"
    try:
        parts = urlsplit(url)
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http:// or https:// URL such as http://localhost:5055/webhook"
    return None


def _positive_number(value: Any) -> TypeGuard[float]:
    """A finite number above zero (not a bool)."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value) and value > 0)


def _to_float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None
