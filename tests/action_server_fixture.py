"""A real rasa-sdk action server for tests, serving a fixture project's `actions/` package.

Test modules in tests/ import it by its plain name (pytest puts tests/ on sys.path, as tests/
has a conftest.py and no __init__.py):

    from action_server_fixture import action_server  # noqa: F401  (the session fixture)

    def test_something(action_server):
        client = ActionServerClient(action_server.endpoint)

or, without pytest fixtures, `with start_action_server(project_dir) as server: ...`.

The server listens on 127.0.0.1 on a free port, runs in its own process group and is stopped
(with its Sanic worker) when the `with` block ends, or at interpreter exit for the shared one.
"""
from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from supportbot.project.endpoints import ActionEndpoint

FORM_ACTIONS_PROJECT = Path(__file__).resolve().parent / "fixtures" / "projects" / \
    "rasa3_form_actions"
"""The Rasa 3 project whose `actions/` package the server runs by default."""


@dataclass(frozen=True)
class RunningActionServer:
    """A started action server: `url` is its webhook, `endpoint` a client configuration."""

    project: Path
    port: int
    process: subprocess.Popen[bytes]
    log_file: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhook"

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/health"

    def endpoint(self, *, timeout: float = 10.0, token: str | None = None) -> ActionEndpoint:
        """An `ActionEndpoint` pointing at this server."""
        return ActionEndpoint(url=self.url, timeout=timeout, token=token)

    def log(self) -> str:
        """What the server printed so far."""
        return self.log_file.read_text(errors="replace")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def start_action_server(project: Path = FORM_ACTIONS_PROJECT, *, port: int | None = None,
                        startup_timeout: float = 60.0) -> Iterator[RunningActionServer]:
    """Run `python -m rasa_sdk --actions actions` in `project` until the block ends."""
    server = _launch(project, port or free_port(), startup_timeout)
    try:
        yield server
    finally:
        _stop(server)


def _launch(project: Path, port: int, startup_timeout: float) -> RunningActionServer:
    """Start the server and wait until `GET /health` answers (RuntimeError with its log if not)."""
    log_file = Path(tempfile.mkstemp(prefix="rasa-sdk-", suffix=".log")[1])
    env = {**os.environ, "SANIC_HOST": "127.0.0.1", "PYTHONDONTWRITEBYTECODE": "1",
           "ACTION_SERVER_SANIC_WORKERS": "1"}
    with log_file.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "rasa_sdk", "--actions", "actions", "-p", str(port)],
            cwd=project, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    server = RunningActionServer(project=project, port=port, process=process, log_file=log_file)
    deadline = time.monotonic() + startup_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the action server exited with {process.returncode}:\n"
                               f"{server.log()[-3000:]}")
        try:
            if requests.get(server.health_url, timeout=1).status_code == 200:
                return server
        except requests.RequestException:
            pass
        time.sleep(0.1)
    _stop(server)
    raise RuntimeError(f"the action server did not answer on {server.health_url} within "
                       f"{startup_timeout:g} s:\n{server.log()[-3000:]}")


def _stop(server: RunningActionServer) -> None:
    """Stop the server's process group (its Sanic worker included): TERM, then KILL."""
    process = server.process
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # a worker that outlived its parent
    with contextlib.suppress(OSError):
        server.log_file.unlink()


_shared: RunningActionServer | None = None


def shared_action_server() -> RunningActionServer:
    """One server for the whole test run (FORM_ACTIONS_PROJECT), stopped at interpreter exit."""
    global _shared
    if _shared is None or _shared.process.poll() is not None:
        _shared = _launch(FORM_ACTIONS_PROJECT, free_port(), 60.0)
        atexit.register(_stop, _shared)
    return _shared


def stop_shared_action_server() -> None:
    """Stop the shared server now (if it runs)."""
    global _shared
    if _shared is not None:
        _stop(_shared)
        _shared = None


@pytest.fixture(scope="session")
def action_server() -> Iterator[RunningActionServer]:
    """The shared rasa-sdk server for tests/fixtures/projects/rasa3_form_actions, stopped at the
    end of the test session."""
    yield shared_action_server()
    stop_shared_action_server()
