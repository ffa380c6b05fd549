"""The staging client: one payload to the staging target, with bounded time and memory.

Each request has a *total* deadline (``StagingSettings.timeout``, connect to the last body byte
read): a server that trickles one byte a second is cut at it, where a per-read timeout would
wait forever. Of a body, at most ``max_body_bytes`` are read, streamed and then cut: a 503 with
a 300 MB body costs the cap, not the body. Only error bodies (status >= 300) are read at all;
they are what the model is shown.

Infrastructure failures (408/429/5xx, timeouts, refused or reset connections; ``nodes.gate``)
are retried with jittered exponential backoff, at most ``infra_retries`` times, never rewritten.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from ...config import StagingSettings
from ...exceptions import StagingError
from ..gate import ErrorKind, Verdict, classify

MAX_BODY_CHARS = 8000
"""Longest body text kept (after decoding) for the model and the log."""


@dataclass(slots=True)
class Reply:
    """What one staging request produced."""

    status: int | None = None
    error_kind: ErrorKind | None = None
    body: str = ""
    retry_after: float | None = None
    bytes_read: int = 0
    """Body bytes read (never more than the cap)."""
    truncated: bool = False
    """The body was longer than the cap and cut."""
    deadline_hit: bool = False
    """The request's total deadline fired."""


RetryHook = Callable[[int, Reply, float, str], None]
"""``(try_number, reply, delay_s, gate_reason)``: called before each infrastructure retry."""


class StagingClient:
    """Sends payloads to one staging target (``async with`` owns the connection pool)."""

    def __init__(
        self,
        settings: StagingSettings,
        *,
        rng: random.Random,
        sanitize: Callable[[str], str],
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.rng = rng
        self.sanitize = sanitize
        # trust_env=False: never route staging calls through a proxy from the environment.
        self._client = httpx.AsyncClient(
            timeout=settings.timeout, follow_redirects=False, trust_env=False, transport=transport
        )

    async def __aenter__(self) -> StagingClient:
        await self._client.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self._client.__aexit__(*exc)

    async def send_with_retries(self, payload: Any, on_retry: RetryHook) -> tuple[Reply, int]:
        """The last reply and how many infrastructure retries it took."""
        s = self.settings
        for try_ in range(s.infra_retries + 1):
            reply = await self.send(payload)
            gate = classify(reply.status, error_kind=reply.error_kind)
            if gate.verdict is not Verdict.INFRA or try_ == s.infra_retries:
                return reply, try_  # every earlier try was retried
            delay = self.backoff(try_, reply.retry_after)
            on_retry(try_ + 1, reply, delay, gate.reason)
            await asyncio.sleep(delay)
        raise AssertionError("unreachable: the last try returns")

    def backoff(self, try_: int, retry_after: float | None) -> float:
        s = self.settings
        delay = min(s.backoff_max_s, s.backoff_s * 2.0**try_)
        delay *= 0.5 + self.rng.random() / 2  # "equal jitter"
        if retry_after is not None:
            delay = max(delay, min(retry_after, s.backoff_max_s))
        return delay

    async def send(self, payload: Any) -> Reply:
        """One request within the total deadline."""
        reply = Reply()
        try:
            async with asyncio.timeout(self.settings.timeout):
                await self._exchange(payload, reply)
        except TimeoutError:
            reply.deadline_hit = True
            reply.status, reply.error_kind, reply.body = None, ErrorKind.TIMEOUT, ""
        except httpx.TimeoutException:
            reply.status, reply.error_kind, reply.body = None, ErrorKind.TIMEOUT, ""
        except httpx.ConnectError:
            reply.status, reply.error_kind, reply.body = None, ErrorKind.CONNECT, ""
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise StagingError(
                self.sanitize(f"staging.url is not a usable http(s) URL ({exc}): fix staging.url")
            ) from exc
        except httpx.TransportError:
            reply.status, reply.error_kind, reply.body = None, ErrorKind.RESET, ""
        return reply

    async def _exchange(self, payload: Any, reply: Reply) -> None:
        s = self.settings
        request = self._client.build_request(s.method, s.url, json=payload, headers=dict(s.headers))
        response = await self._client.send(request, stream=True)
        try:
            reply.status = response.status_code
            header = response.headers.get("Retry-After")
            if header:
                try:
                    reply.retry_after = float(header)
                except ValueError:
                    reply.retry_after = None
            if response.status_code >= 300:
                reply.body = await self._read_capped(response, reply)
        finally:
            await response.aclose()

    async def _read_capped(self, response: httpx.Response, reply: Reply) -> str:
        cap = self.settings.max_body_bytes
        chunks: list[bytes] = []
        async for chunk in response.aiter_bytes():
            room = cap - reply.bytes_read
            if len(chunk) > room:  # stop here: the rest of the body is never read
                chunks.append(chunk[:room])
                reply.bytes_read, reply.truncated = cap, True
                break
            chunks.append(chunk)
            reply.bytes_read += len(chunk)
        raw = b"".join(chunks)
        try:
            text = raw.decode(response.charset_encoding or "utf-8", errors="replace")
        except LookupError:  # a charset Python does not know
            text = raw.decode("utf-8", errors="replace")
        return text[:MAX_BODY_CHARS]


__all__ = ["MAX_BODY_CHARS", "Reply", "StagingClient"]
