"""The HTTP server: a Rasa-compatible REST channel, `/model/parse`, health checks, admin
endpoints and background checks, as an ASGI app (`create_app`) served by uvicorn
(`supportbot run`). Needs the `server` extra: `pip install "supportbot[server]"`."""
from __future__ import annotations

from supportbot.server.app import create_app, rasa_parse
from supportbot.server.background import BackgroundTasks
from supportbot.server.limits import RateLimiter
from supportbot.server.rest import rasa_messages
from supportbot.server.runtime import BotRuntime
from supportbot.server.settings import ServerSettings, SettingsError

__all__ = ["BackgroundTasks", "BotRuntime", "RateLimiter", "ServerSettings", "SettingsError",
           "create_app", "rasa_messages", "rasa_parse"]
