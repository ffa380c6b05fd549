"""No network fails fast: one look at a model host before the SDK's retries start.

Without this, a DNS failure went through the SDK's retries (with backoff) and then the node's
own retries: 22 s and the same message four times for a classroom whose Wi-Fi is down. A
``HostCheck`` resolves the host once (and opens one TCP connection) with a short deadline;
when that fails, the call ends at once with one line that says so and is not retryable, so no
retry layer repeats it. A host that answered is not looked at again; a failure is remembered
for a few seconds, so the nodes that start together all get the same verdict without waiting.

Loopback hosts are not checked (a local server's refusal is quick and its message is the
SDK's), nor hosts reached through a proxy from the environment (the proxy resolves them).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
import urllib.request
from urllib.parse import urlsplit

from ..exceptions import ProviderError
from .guard import is_loopback

DEADLINE = 2.0
"""Seconds the whole check (resolve + connect) may take."""
FORGET_FAILURE_AFTER = 10.0
"""Seconds a failed check is reused before the host is looked at again."""


def _via_proxy(url: str, host: str) -> bool:
    proxies = urllib.request.getproxies()
    scheme = urlsplit(url).scheme or "https"
    return bool(proxies.get(scheme) or proxies.get("all")) and not urllib.request.proxy_bypass(host)


class HostCheck:
    """Checks each model host once per provider; ``await check(url)`` raises when it is down."""

    def __init__(self, *, deadline: float = DEADLINE, hint: str = "") -> None:
        self.deadline = deadline
        self.hint = hint
        """What to do about it, appended to the message (the vendor's base URL variable)."""
        self._ok: set[tuple[str, int]] = set()
        self._failed: dict[tuple[str, int], tuple[float, str]] = {}
        self._locks: dict[tuple[str, int], asyncio.Lock] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    async def check(self, url: str) -> None:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if not host or is_loopback(url) or _via_proxy(url, host):
            return
        port = parts.port or (80 if parts.scheme == "http" else 443)
        where = (host, port)
        if where in self._ok:
            return
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a provider reused by a later run (another event loop)
            self._loop, self._locks = loop, {}
        lock = self._locks.setdefault(where, asyncio.Lock())
        async with lock:  # concurrent nodes wait for one check instead of each running it
            if where in self._ok:
                return
            failed = self._failed.get(where)
            if failed is not None and time.monotonic() - failed[0] < FORGET_FAILURE_AFTER:
                raise ProviderError(failed[1], retryable=False)
            problem = await self._probe(host, port)
            if problem is None:
                self._ok.add(where)
                self._failed.pop(where, None)
                return
            message = f"no network: {problem}; check the connection or a proxy"
            if self.hint:
                message += f", {self.hint}"
            message += ", or run offline with --provider replay or scripted"
            self._failed[where] = (time.monotonic(), message)
            raise ProviderError(message, retryable=False)

    async def _probe(self, host: str, port: int) -> str | None:
        """``None`` when ``host:port`` takes a TCP connection, else what went wrong."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), self.deadline
            )
        except TimeoutError:
            return f"cannot resolve {host} (no answer within {self.deadline:g} s)"
        except OSError as exc:
            return f"cannot resolve {host} ({exc.strerror or exc})"
        if not infos:
            return f"cannot resolve {host}"
        problem = ""
        # Every address in turn (an IPv6 address first on a machine without IPv6 routes must
        # not hide a working IPv4 one), all within the one deadline.
        for family, _kind, proto, _name, address in infos:
            remaining = self.deadline - (loop.time() - start)
            if remaining <= 0:
                break
            try:
                _reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(str(address[0]), port, family=family, proto=proto),
                    remaining,
                )
            except TimeoutError:
                break
            except OSError as exc:
                problem = f"cannot connect to {host}:{port} ({exc.strerror or exc})"
                continue
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return None
        return problem or f"{host}:{port} did not answer within {self.deadline:g} s"


__all__ = ["DEADLINE", "HostCheck"]
