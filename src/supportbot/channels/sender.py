"""One small outbound HTTP sender for every channel: retries with exponential backoff."""
from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping
from typing import Any

import httpx

log = logging.getLogger("supportbot.channels")

# statuses worth another try: rate limits and server-side trouble
_RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class DeliveryError(Exception):
    """A platform API call failed for good (after every attempt, or with a non-retryable error)."""

    def __init__(self, message: str, response: httpx.Response | None = None):
        super().__init__(message)
        self.response = response


class OutboundSender:
    """POSTs JSON to a platform API with bounded retries.

    A connection error, a timeout, 408/425/429 or a 5xx is retried up to `attempts` calls in all,
    waiting `backoff * 2**n` seconds (at most `max_delay`, with a little jitter; a `Retry-After`
    header is honoured up to `max_delay`). Other 4xx answers are not retried. The final failure
    is logged and raised as `DeliveryError`.
    """

    def __init__(self, channel: str, *, attempts: int = 4, backoff: float = 0.5,
                 max_delay: float = 8.0, timeout: float = 10.0,
                 client: httpx.AsyncClient | None = None):
        if attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {attempts}")
        self.channel = channel
        self.attempts = attempts
        self.backoff = max(0.0, backoff)
        self.max_delay = max_delay
        self.timeout = timeout
        self._client = client
        self._own_client = client is None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None and self._own_client:
            await self._client.aclose()
            self._client = None

    def delay(self, attempt: int, response: httpx.Response | None = None) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        if response is not None:
            after = response.headers.get("retry-after")
            if after is not None:
                try:
                    return min(self.max_delay, max(0.0, float(after)))
                except ValueError:
                    pass
        base = min(self.max_delay, self.backoff * (2 ** (attempt - 1)))
        return base * (1 + random.uniform(0, 0.1))

    async def post(self, url: str, payload: Mapping[str, Any], *,
                   headers: Mapping[str, str] | None = None,
                   params: Mapping[str, str] | None = None,
                   what: str = "message") -> httpx.Response:
        """POST `payload` as JSON; returns the successful response or raises `DeliveryError`."""
        last: str = ""
        response: httpx.Response | None = None
        for attempt in range(1, self.attempts + 1):
            response = None
            try:
                response = await self.client.post(url, json=dict(payload),
                                                   headers=dict(headers or {}),
                                                   params=dict(params or {}))
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code < 400:
                    return response
                last = f"HTTP {response.status_code}: {response.text[:200]}"
                if response.status_code not in _RETRY_STATUSES:
                    log.error("%s: sending %s failed (not retried): %s", self.channel, what, last)
                    raise DeliveryError(f"{self.channel}: {last}", response)
            if attempt < self.attempts:
                wait = self.delay(attempt, response)
                log.warning("%s: sending %s failed (attempt %d of %d, retry in %.2f s): %s",
                            self.channel, what, attempt, self.attempts, wait, last)
                await asyncio.sleep(wait)
        log.error("%s: sending %s failed after %d attempts: %s", self.channel, what,
                  self.attempts, last)
        raise DeliveryError(f"{self.channel}: gave up after {self.attempts} attempts: {last}",
                            response)
