"""httpcore2's network backend on asyncio's own transports, for the model client's streaming reads.

OpenAI's client is httpx2 (pydantic's fork of httpx), which reads a server's stream through httpcore2,
and on asyncio that goes through AnyIO. Each read of a chunk then costs an `anyio.fail_after` cancel
scope with its own timer, a `map_exceptions` context manager, and a `resume_reading()` /
`pause_reading()` pair (two `epoll_ctl` calls) around the receive. With ten visitors streaming, that
path was about a tenth of the busy time of the event loop they all share (py-spy; docs/benchmarks.md,
"Against Gradio's own floor"). httpcore removed its own asyncio backend in favour of AnyIO and declined
to add it back (encode/httpcore#930, wontfix); the fork has one under review (pydantic/httpx2#1170).
This is the thin layer until a release has it: a protocol that keeps what arrives in a buffer (pausing
the socket only past `HIGH_WATER` bytes), a read that returns buffered bytes at once and otherwise
waits on one future with one timer, and the same `httpcore2` exceptions AnyIO's path raises.

    >>> import asyncio
    >>> async def echo_once():
    ...     async def serve(reader, writer):
    ...         writer.write(await reader.read(5))
    ...         writer.close()
    ...     server = await asyncio.start_server(serve, "127.0.0.1", 0)
    ...     port = server.sockets[0].getsockname()[1]
    ...     stream = await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5)
    ...     await stream.write(b"hello", timeout=5)
    ...     said = await stream.read(100, timeout=5), await stream.read(100, timeout=5)
    ...     await stream.aclose()
    ...     server.close()
    ...     return said
    >>> asyncio.run(echo_once())  # the bytes, then b"" for the end of the stream
    (b'hello', b'')
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections import deque
from collections.abc import Iterable
from contextlib import suppress
from typing import Any

import httpcore2
from httpcore2 import ConnectError, ConnectTimeout, ReadError, ReadTimeout, WriteError, WriteTimeout

# Bytes a connection holds unread before it stops reading from the socket, and where it starts again.
# It reads on while idle, so a server's close of a kept-alive connection is seen without a poll().
HIGH_WATER = 256 * 1024
LOW_WATER = 64 * 1024


class _Buffered(asyncio.Protocol):
    """What the socket delivered and has not been read yet, its end, and who waits for either."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.chunks: deque[bytes] = deque()
        self.size = 0
        self.ended = False
        self.error: Exception | None = None
        self.reading_paused = False
        self.writing_paused = False
        self.reader: asyncio.Future[None] | None = None
        self.drainer: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        self.size += len(data)
        if self.size > HIGH_WATER and not self.reading_paused and self.transport is not None:
            self.transport.pause_reading()
            self.reading_paused = True
        _wake(self.reader)

    def eof_received(self) -> bool:
        self.ended = True
        _wake(self.reader)
        return False  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.ended, self.error = True, exc
        _wake(self.reader)
        _wake(self.drainer)

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False
        _wake(self.drainer)

    def take(self, max_bytes: int) -> bytes:
        data = self.chunks.popleft()
        if len(data) > max_bytes:
            data, rest = data[:max_bytes], data[max_bytes:]
            self.chunks.appendleft(rest)
        self.size -= len(data)
        if self.reading_paused and self.size <= LOW_WATER and self.transport is not None:
            self.transport.resume_reading()
            self.reading_paused = False
        return data


def _wake(waiter: asyncio.Future[None] | None) -> None:
    if waiter is not None and not waiter.done():
        waiter.set_result(None)


class AsyncioStream(httpcore2.AsyncNetworkStream):
    """One connection (TCP, or TLS over it), read and written through `_Buffered`."""

    def __init__(self, transport: asyncio.Transport, protocol: _Buffered) -> None:
        self._transport, self._protocol = transport, protocol
        self._loop = asyncio.get_running_loop()  # whose selector reads this socket

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        protocol = self._protocol
        if not protocol.chunks and not protocol.ended:
            waiter = protocol.reader = asyncio.get_running_loop().create_future()
            try:
                await _wait_until(waiter, timeout)
            finally:
                protocol.reader = None
            if not protocol.chunks and not protocol.ended:
                raise ReadTimeout("timed out reading from the server")
        if protocol.chunks:
            return protocol.take(max_bytes)
        if protocol.error is not None:
            raise ReadError(str(protocol.error) or type(protocol.error).__name__) from protocol.error
        return b""  # the server ended the stream

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        protocol = self._protocol
        if self._transport.is_closing() or protocol.ended and protocol.error is not None:
            raise WriteError("the connection is closed")
        self._transport.write(buffer)
        if protocol.writing_paused:
            waiter = protocol.drainer = asyncio.get_running_loop().create_future()
            try:
                await _wait_until(waiter, timeout)
            finally:
                protocol.drainer = None
            if protocol.writing_paused and not protocol.ended:
                raise WriteTimeout("timed out writing to the server")
            if protocol.error is not None or self._transport.is_closing():
                raise WriteError("the connection is closed")

    async def aclose(self) -> None:
        if self._loop.is_closed():  # left in the pool by an event loop that has ended: nothing reads it now
            sock = self._transport.get_extra_info("socket")
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            return
        if self._loop is not asyncio.get_running_loop():  # another thread's loop: it closes its own transport
            self._loop.call_soon_threadsafe(self._transport.abort)
            return
        if self._transport.get_extra_info("sslcontext") is not None:
            self._transport.abort()  # as AnyIO's TLS stream here: no close_notify round trip
        else:
            self._transport.close()
        await asyncio.sleep(0)  # connection_lost runs, and the socket is closed, before this returns

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore2.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                transport = await loop.start_tls(self._transport, self._protocol, ssl_context,
                                                 server_hostname=server_hostname)
        except TimeoutError as error:
            self._transport.abort()
            raise ConnectTimeout("timed out in the TLS handshake") from error
        except (OSError, ssl.SSLError, ValueError) as error:
            self._transport.abort()
            raise ConnectError(str(error)) from error
        if transport is None:
            raise ConnectError("the connection closed during the TLS handshake")
        self._protocol.transport = transport  # type: ignore[assignment]
        return AsyncioStream(transport, self._protocol)  # type: ignore[arg-type]

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":  # for an idle kept-alive connection: did the server close it (or talk)?
            # A connection from another event loop counts as closed too: a notebook's second asyncio.run
            # would otherwise send on it and wait for a reply that no running loop reads.
            return bool(self._protocol.chunks) or self._protocol.ended or not self._on_running_loop()
        name = {"ssl_object": "ssl_object", "client_addr": "sockname", "server_addr": "peername",
                "socket": "socket"}.get(info)
        return self._transport.get_extra_info(name) if name else None

    def _on_running_loop(self) -> bool:
        try:
            return asyncio.get_running_loop() is self._loop
        except RuntimeError:  # asked outside any loop
            return False


async def _wait_until(waiter: asyncio.Future[None], timeout: float | None) -> None:
    """Wait until `waiter` is woken, or `timeout` seconds pass: one timer, no cancel scope."""
    if timeout is None:
        await waiter
        return
    timer = asyncio.get_running_loop().call_later(timeout, _wake, waiter)
    try:
        await waiter
    finally:
        timer.cancel()


class AsyncioBackend(httpcore2.AsyncNetworkBackend):
    """Opens `AsyncioStream`s; what httpcore2's connection pool calls to connect."""

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                          socket_options: Iterable[tuple[int, int, Any]] | None = None) -> httpcore2.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        local = (local_address, 0) if local_address else None
        return await self._connect(loop.create_connection(_Buffered, host, port, local_addr=local), timeout, socket_options)

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[tuple[int, int, Any]] | None = None) -> httpcore2.AsyncNetworkStream:
        return await self._connect(asyncio.get_running_loop().create_unix_connection(_Buffered, path), timeout, socket_options)

    async def _connect(self, connecting: Any, timeout: float | None,
                       socket_options: Iterable[tuple[int, int, Any]] | None) -> AsyncioStream:
        try:
            async with asyncio.timeout(timeout):
                transport, protocol = await connecting
        except TimeoutError as error:  # before OSError: TimeoutError is one
            raise ConnectTimeout("timed out connecting to the server") from error
        except OSError as error:
            raise ConnectError(str(error)) from error
        sock: socket.socket | None = transport.get_extra_info("socket")
        for option in socket_options or ():
            if sock is not None:
                sock.setsockopt(*option)
        return AsyncioStream(transport, protocol)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def on_asyncio_network(transport: Any) -> bool:
    """Have `transport` (an `httpx2.AsyncHTTPTransport`) open its connections with `AsyncioBackend`.
    False, and nothing changed, where its connection pool is not the httpcore2 one this was written for."""
    pool = getattr(transport, "_pool", None)
    if type(pool) is not httpcore2.AsyncConnectionPool or not hasattr(pool, "_network_backend"):
        return False
    pool._network_backend = AsyncioBackend()
    return True
