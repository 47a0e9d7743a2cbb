"""An HTTP client that refuses a line longer than this app reads, before anything parses it.

A server's stream is lines of Server-Sent Events, one JSON object per chunk, and OpenAI's client
parses each whole line on the event loop every visitor shares. A hostile server sent 100,000
alternatives for one token: 6 MB in one line, 300 MB of memory to parse three of them. Real chunks
are a few kilobytes, and a whole non-streaming answer within this app's limits (1,000,000
characters, `llm.stream.answer_limits`) fits in `MAX_LINE_BYTES`. httpx2 has no such limit, so this is
the thin layer it lacks: a transport that counts the bytes since the last newline as they arrive.

    >>> import asyncio
    >>> async def lines(*parts):
    ...     return [part async for part in BoundedLines(httpx2.ByteStream(b"".join(parts)), limit=8)]
    >>> asyncio.run(lines(b"data: 1\\n", b"data: 2\\n"))
    [b'data: 1\\ndata: 2\\n']
    >>> asyncio.run(lines(b"data: 123456789\\n"))
    Traceback (most recent call last):
    ...
    llm.guards.bounded_http.LineTooLong: The server sent a line of more than 8 bytes, more than any chunk this app reads: the rest was not read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx2

from llm.errors import ReadableError
from llm.guards.asyncio_network import on_asyncio_network

MAX_LINE_BYTES = 4_000_000
# How long an idle connection to the model server is kept for the next answer. httpx2 keeps 20 for 5 s,
# so a visitor arriving more than 5 s after the last answer paid a new connection (TCP, and TLS to a
# remote server) before the first token. A server that closes one sooner is noticed before it is
# used again (asyncio_network's `is_readable`).
IDLE_CONNECTION_S = 120.0


class LineTooLong(ReadableError):
    """A line of a server's response past `MAX_LINE_BYTES`."""


class BoundedLines(httpx2.AsyncByteStream):
    """A response body, passed on as it comes, that raises `LineTooLong` once a line passes `limit`."""

    def __init__(self, stream: httpx2.AsyncByteStream, limit: int = MAX_LINE_BYTES) -> None:
        self._stream, self._limit = stream, limit

    async def __aiter__(self) -> AsyncIterator[bytes]:
        run = 0  # bytes of the line not yet ended
        async for part in self._stream:
            start = 0
            while (newline := part.find(b"\n", start)) >= 0:
                self._check(run + newline - start)
                run, start = 0, newline + 1
            run += len(part) - start
            self._check(run)
            yield part

    def _check(self, length: int) -> None:
        if length > self._limit:
            raise LineTooLong(f"The server sent a line of more than {self._limit:,} bytes, more than any chunk "
                              "this app reads: the rest was not read.")

    async def aclose(self) -> None:
        await self._stream.aclose()


class BoundedTransport(httpx2.AsyncBaseTransport):
    """httpx2's own transport, on asyncio's sockets (`asyncio_network`), with every response body read
    through `BoundedLines`."""

    def __init__(self, limit: int = MAX_LINE_BYTES, kept: int = 100) -> None:
        # No cap on open connections here: Gradio's concurrency limits (one per tab) decide how many
        # answers stream at once, and a cap below their sum would make an answer wait for a connection.
        kept_alive = httpx2.Limits(max_connections=None, max_keepalive_connections=kept,
                                   keepalive_expiry=IDLE_CONNECTION_S)
        self._inner, self._limit = httpx2.AsyncHTTPTransport(limits=kept_alive), limit
        self.on_asyncio_network = on_asyncio_network(self._inner)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await self._inner.handle_async_request(request)
        response.stream = BoundedLines(response.stream, self._limit)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


def bounded_async_client(timeout: float, kept: int = 100) -> httpx2.AsyncClient:
    """An AsyncClient for OpenAI's client (as it makes its own: its timeout, redirects followed). httpx2,
    the fork OpenAI's client is built on (openai 3), not httpx: its connections take their locks without
    a round trip through the event loop (pydantic/httpx2#970; httpcore's own took two before every
    request's headers, and at ten visitors at once the headers went out 36 ms after the request was built,
    median). Up to `kept` idle connections wait for the next answers (say, as many as may stream at once)."""
    return httpx2.AsyncClient(transport=BoundedTransport(kept=kept), timeout=timeout, follow_redirects=True)
