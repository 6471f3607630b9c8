"""What every channel adapter shares: the turn, de-duplication, signatures, outbound routing."""
from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import hmac
import logging
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter

from supportbot.channels.sender import DeliveryError, OutboundSender
from supportbot.dialogue.nlg import Reply
from supportbot.errors import SupportbotError
from supportbot.server.runtime import BotRuntime

log = logging.getLogger("supportbot.channels")
DELIVERY_TIMEOUT_S = 60.0  # the sender's own retries with backoff fit well inside this


class Seen:
    """A bounded memory of ids already handled (platform retries, duplicate deliveries)."""

    def __init__(self, size: int = 2048):
        self.size = size
        self._ids: OrderedDict[str, None] = OrderedDict()

    def check_and_add(self, key: str) -> bool:
        """True when `key` was seen before; remembers it otherwise."""
        if key in self._ids:
            self._ids.move_to_end(key)
            return True
        self._ids[key] = None
        if len(self._ids) > self.size:
            self._ids.popitem(last=False)
        return False


def hub_signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    """Meta's `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`."""
    if not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header[len("sha256="):].strip().lower())


def sender_for(name: str, config: Mapping[str, Any]) -> OutboundSender:
    return OutboundSender(name, attempts=int(config.get("retry_attempts", 4)),
                          backoff=float(config.get("retry_backoff", 0.5)))


class Channel:
    """An input/output adapter. Subclasses set `name`, build `router()` and implement
    `deliver()` (send one reply through the platform's API)."""

    name = "channel"

    def __init__(self, config: Mapping[str, Any], runtime: BotRuntime):
        self.config = dict(config)
        self.runtime = runtime
        self.sender = sender_for(self.name, self.config)
        self.seen = Seen()

    def api_url(self, default: str) -> str:
        return str(self.config.get("api_url") or default).rstrip("/")

    def router(self) -> APIRouter:
        raise NotImplementedError

    async def startup(self) -> None:
        """Called once the server runs (e.g. to register a webhook)."""

    async def shutdown(self) -> None:
        await self.sender.aclose()

    async def deliver(self, recipient: str, reply: Reply, metadata: Mapping[str, Any]) -> None:
        raise NotImplementedError

    async def handle_message(self, sender_id: str, text: str,
                             metadata: Mapping[str, Any]) -> None:
        """Run the customer's turn and send the replies; failures are logged, never raised
        (the platform already has its 200)."""
        if not self.runtime.accepting:
            log.warning("%s: message from %s dropped: the server is shutting down",
                        self.name, sender_id)
            return
        try:
            turn = await self.runtime.handle(sender_id, text, channel=self.name,
                                             metadata=dict(metadata))
        except SupportbotError as exc:
            log.warning("%s: message from %s not handled: %s", self.name, sender_id, exc)
            return
        except Exception:
            log.exception("%s: turn for %s failed", self.name, sender_id)
            return
        await self.send_replies(sender_id, turn.replies, metadata)

    async def send_replies(self, recipient: str, replies: Any,
                           metadata: Mapping[str, Any]) -> None:
        for reply in replies:
            try:
                await self.deliver(recipient, reply, metadata)
            except DeliveryError:
                pass  # logged by the sender
            except Exception:
                log.exception("%s: could not send a reply to %s", self.name, recipient)


class ChannelHub:
    """The channels of one server; routes agent messages and queue notices (from
    `runtime.subscribe`) to the channel the conversation last wrote from."""

    def __init__(self, runtime: BotRuntime, channels: Mapping[str, Channel]):
        self.runtime = runtime
        self.channels = dict(channels)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._unsubscribe: Any = None
        self._tasks: set[concurrent.futures.Future[None]] = set()

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._unsubscribe = self.runtime.subscribe(self.on_outbound)
        for channel in self.channels.values():
            try:
                await channel.startup()
            except Exception:
                log.exception("%s: start-up failed", channel.name)

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        pending = [t for t in self._tasks if not t.done()]
        if pending:
            await asyncio.wait([asyncio.wrap_future(t) for t in pending], timeout=10)
        for channel in self.channels.values():
            await channel.shutdown()
        self._loop = None

    def on_outbound(self, conversation_id: str, reply: Reply) -> None:
        """A runtime subscriber, called by the outbox dispatcher from a worker thread: waits
        for the platform to take the message and raises when it did not (the outbox retries)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            raise DeliveryError(f"outbound message for {conversation_id}: channels are not "
                                "running")
        future = asyncio.run_coroutine_threadsafe(self.route(conversation_id, reply), loop)
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:  # called on the loop itself: cannot wait without a deadlock
            self._tasks.add(future)
            future.add_done_callback(self._tasks.discard)
            return
        future.result(timeout=DELIVERY_TIMEOUT_S)

    async def route(self, conversation_id: str, reply: Reply) -> None:
        """Send `reply` through the channel of the conversation's latest customer message;
        raises DeliveryError when the platform did not take it."""
        latest = await asyncio.to_thread(self._latest, conversation_id)
        if latest is None:
            return
        name, metadata = latest
        channel = self.channels.get(name)
        if channel is None:
            return  # REST, web chat and library conversations read the conversation log
        await channel.deliver(conversation_id, reply, metadata)

    def _latest(self, conversation_id: str) -> tuple[str, Mapping[str, Any]] | None:
        bot = self.runtime.bot
        if not bot.store.exists(conversation_id):
            return None
        message = bot.store.load(conversation_id).latest_message
        if message is None:
            return None
        return message.channel, dict(message.metadata or {})
