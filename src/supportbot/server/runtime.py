"""The server's hold on the bot: the current model, turns in flight, model reloads and the
subscribers to messages that do not answer a request (agent messages, queue notices)."""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from supportbot.bot import Bot, Turn
from supportbot.dialogue.nlg import Reply
from supportbot.model import latest_model

log = logging.getLogger("supportbot.server")

OutboundSubscriber = Callable[[str, Reply], None]


@dataclass(frozen=True)
class ModelInfo:
    """Which model the server answers with."""

    path: str | None
    fingerprint: str | None
    loaded_at: float

    def to_dict(self) -> dict[str, Any]:
        return {"model_file": self.path, "fingerprint": self.fingerprint,
                "loaded_at": self.loaded_at}


def model_info(bot: Bot, path: Path | str | None) -> ModelInfo:
    manifest = bot.manifest
    fingerprint = getattr(manifest, "fingerprint", None) if manifest is not None else None
    return ModelInfo(str(path) if path is not None else None,
                     str(fingerprint) if fingerprint is not None else None, time.time())


class BotRuntime:
    """Holds the current `Bot` and swaps it atomically on reload.

    A request takes `runtime.bot` once and keeps it for its whole turn, so turns in flight
    during a reload finish on the old model. The new bot shares the old one's tracker store,
    queue, per-conversation locks, actions and action endpoint: conversations continue, and
    two messages of one conversation never run at the same time across the swap.
    """

    def __init__(self, bot: Bot, model_path: Path | str | None = None,
                 models_folder: Path | str | None = None):
        self._bot = bot
        self.info = model_info(bot, model_path)
        # where `PUT /model` without a file looks for the newest model
        self.models_folder = Path(models_folder) if models_folder is not None else None
        self._subscribers: list[OutboundSubscriber] = []
        self._in_flight = 0
        self._idle = threading.Condition()
        self._reload_lock = asyncio.Lock()
        self.accepting = True
        self._install_outbound(bot)

    # ------------------------------------------------------------------ the current bot
    @property
    def bot(self) -> Bot:
        return self._bot

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @contextmanager
    def turn(self) -> Iterator[Bot]:
        """Count a turn in flight for its duration; yields the bot to run it on."""
        with self._idle:
            self._in_flight += 1
        try:
            yield self._bot
        finally:
            with self._idle:
                self._in_flight -= 1
                if self._in_flight == 0:
                    self._idle.notify_all()

    async def handle(self, conversation_id: str, text: str, **kwargs: Any) -> Turn:
        """`Bot.handle` on the current model in a worker thread (never on the event loop).
        The turn is counted in flight inside the thread, so a cancelled request still counts
        until its turn has really finished."""

        def run() -> Turn:
            with self.turn() as bot:
                return bot.handle(conversation_id, text, **kwargs)

        return await asyncio.to_thread(run)

    def wait_idle(self, timeout: float) -> bool:
        """Block until no turn is in flight (True) or `timeout` passes (False)."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._in_flight > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    # ------------------------------------------------------------------ outbound messages
    def subscribe(self, callback: OutboundSubscriber) -> Callable[[], None]:
        """Receive (conversation id, reply) for agent messages and queue notices; the
        subscription survives model reloads. Returns a function that unsubscribes."""
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

        return unsubscribe

    def _deliver(self, conversation_id: str, reply: Reply) -> None:
        """The bot's output adapter: every subscriber gets the message; when one fails, the
        first failure is raised after all have run, so the outbox retries the message."""
        failure: Exception | None = None
        for callback in list(self._subscribers):
            try:
                callback(conversation_id, reply)
            except Exception as exc:  # noqa: BLE001 - one broken channel must not stop the others
                log.warning("outbound subscriber %r failed for conversation %s: %s",
                            callback, conversation_id, exc)
                failure = failure or exc
        if failure is not None:
            raise failure

    def _install_outbound(self, bot: Bot) -> None:
        previous = bot.outbound
        if previous is not None and previous != self._deliver:
            self._subscribers.append(previous)
        bot.outbound = self._deliver

    # ------------------------------------------------------------------ reload
    def resolve_model(self, model: str | None) -> Path:
        """The archive a reload loads: `model` (a file or folder), else the newest model in the
        folder the server started from."""
        if model:
            return latest_model(Path(model))
        if self.models_folder is None:
            from supportbot.errors import ModelError

            raise ModelError("no model given and the server was not started from a folder; "
                             "send {\"model_file\": \"path/to/model.tar.gz\"}")
        return latest_model(self.models_folder)

    async def reload(self, model: str | None = None) -> ModelInfo:
        """Load a model with the current stores and swap it in; one reload at a time."""
        async with self._reload_lock:
            path = self.resolve_model(model)
            new = await asyncio.to_thread(self._load_like_current, path)
            self._bot = new  # atomic: the next turn uses the new model
            self.info = model_info(new, path)
            log.info("model reloaded: %s (fingerprint %s)", path, self.info.fingerprint)
            return self.info

    def _load_like_current(self, path: Path) -> Bot:
        old = self._bot
        server = old.actions.server
        new = Bot.load(path, tracker_store=old.store, queue=old.queue.backend,
                       actions=old.actions.registry,
                       action_endpoint=server.endpoint if server is not None else None)
        # one lock per conversation across the swap: a turn on the old bot and the next one on
        # the new bot never interleave
        new.log.locks = old.log.locks
        new.locks = old.locks
        new.outbound = self._deliver
        return new
