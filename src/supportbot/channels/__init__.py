"""Messaging channels configured in a Rasa-style `credentials.yml`.

REST (always on, `supportbot.server.rest`), Rasa's socket.io web chat channel, Telegram, Slack
Events API, Facebook Messenger and the WhatsApp Cloud API. `mount_channels(app, credentials)`
adds them to a server built by `supportbot.server.create_app` (which does so itself when given
`credentials=`). See docs/channels.md.
"""
from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from supportbot.channels.base import Channel, ChannelHub
from supportbot.channels.credentials import CREDENTIALS_FILE, Credentials, read_credentials
from supportbot.channels.sender import DeliveryError, OutboundSender

log = logging.getLogger("supportbot.channels")

__all__ = ["CREDENTIALS_FILE", "Channel", "ChannelHub", "Credentials", "DeliveryError",
           "OutboundSender", "build_channels", "mount_channels", "read_credentials"]


def _channel_classes() -> dict[str, type[Channel]]:
    from supportbot.channels.facebook import FacebookChannel
    from supportbot.channels.slack import SlackChannel
    from supportbot.channels.socketio_channel import SocketIOChannel
    from supportbot.channels.telegram import TelegramChannel
    from supportbot.channels.whatsapp import WhatsAppChannel

    return {"socketio": SocketIOChannel, "telegram": TelegramChannel, "slack": SlackChannel,
            "facebook": FacebookChannel, "whatsapp": WhatsAppChannel}


def build_channels(credentials: Credentials, runtime: Any) -> dict[str, Channel]:
    """The channel adapters named in `credentials` (REST is the server's own and not built)."""
    classes = _channel_classes()
    return {name: classes[name](config, runtime)
            for name, config in credentials.channels.items() if name in classes}


def mount_channels(app: Any, credentials: Credentials | Mapping[str, Any] | str | os.PathLike[str]
                   ) -> ChannelHub:
    """Add the channels to a `create_app` server: their webhook routes, the socket.io app at
    `/socket.io`, and (while the server runs) delivery of agent messages through each platform's
    API. `credentials`: a `Credentials`, a mapping shaped like credentials.yml, or its path."""
    if isinstance(credentials, Credentials):
        creds = credentials
    elif isinstance(credentials, Mapping):
        creds = Credentials.from_mapping(credentials)
    else:
        creds = read_credentials(credentials)
    runtime = app.state.runtime
    channels = build_channels(creds, runtime)
    hub = ChannelHub(runtime, channels)
    for channel in channels.values():
        app.include_router(channel.router())
    socket = channels.get("socketio")
    if socket is not None:
        from supportbot.channels.socketio_channel import SocketIOChannel

        assert isinstance(socket, SocketIOChannel)
        app.mount("/socket.io", socket.asgi_app())

    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(the_app: Any) -> AsyncIterator[Any]:
        async with inner(the_app) as state:
            await hub.start()
            try:
                yield state
            finally:
                await hub.stop()

    app.router.lifespan_context = lifespan
    app.state.channels = hub
    if channels:
        log.info("channels: rest, %s", ", ".join(channels))
    return hub
