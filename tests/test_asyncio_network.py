"""The model client's sockets on asyncio (`llm.guards.asyncio_network`): a whole answer streams over
HTTP and TLS, and every way a connection can go wrong ends as it does on httpx2's own (AnyIO) path."""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
from collections.abc import Awaitable, Callable

import httpx2
import pytest
import trustme

from llm import Settings
from llm.backends.models import build_chat_model
from llm.guards.asyncio_network import HIGH_WATER, AsyncioStream, on_asyncio_network
from llm.guards.bounded_http import BoundedTransport
from tests.openai_server import FakeOpenAIServer, Scenario

WORDS = ["It", " rains", " on", " the", " sea", "."]
Serve = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def tls_server(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    return context


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_the_app_model_streams_a_whole_answer_on_asyncio_sockets(ca, tls, monkeypatch, tmp_path):
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem") if tls else "")  # httpx2 reads it as the client starts
    with FakeOpenAIServer(Scenario(tokens=WORDS), tls=tls_server(ca) if tls else None) as server:
        assert server.base_url.startswith("https://" if tls else "http://")
        model = build_chat_model(Settings.from_env({"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "k",
                                                    "OPENAI_MODEL": "fake"}, dotenv=False))

        async def answer() -> str:
            return "".join([chunk.text async for chunk in model.astream("hi")])

        assert asyncio.run(answer()) == "".join(WORDS)
        assert server.completed == 1


def test_an_answers_request_takes_no_round_trip_through_the_event_loop(monkeypatch):
    """httpcore's connection locks each waited one turn of the event loop, even with no one else holding
    them (AnyIO's `cancel_shielded_checkpoint`): two before a request's headers went out, one as it
    closed, and at ten visitors at once a turn took 10-20 ms. httpx2's take theirs at once."""
    from anyio._backends._asyncio import AsyncIOBackend

    turns: list[int] = []
    checkpoint = AsyncIOBackend.cancel_shielded_checkpoint

    async def counted() -> None:
        turns.append(1)
        await checkpoint()

    monkeypatch.setattr(AsyncIOBackend, "cancel_shielded_checkpoint", classmethod(lambda cls: counted()))
    with FakeOpenAIServer(Scenario(tokens=WORDS)) as server:
        model = build_chat_model(Settings.from_env({"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "k",
                                                    "OPENAI_MODEL": "fake"}, dotenv=False))

        async def answer() -> str:
            return "".join([chunk.text async for chunk in model.astream("hi")])

        assert asyncio.run(answer()) == "".join(WORDS)
    assert turns == []


def test_one_model_answers_in_one_event_loop_after_another():
    """A script's `asyncio.run(LLM().astream(...))`, twice: the second found the first loop's kept-alive
    connection in the pool. On httpx's own path it raised "Event loop is closed"; sent on it as it was, it
    would wait for a reply no running loop reads. It is taken as closed, and the answer comes on a new one."""
    with FakeOpenAIServer(Scenario(tokens=WORDS)) as server:
        model = build_chat_model(Settings.from_env({"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "k",
                                                    "OPENAI_MODEL": "fake", "LLM_TIMEOUT": "5"}, dotenv=False))

        async def answer() -> str:
            return "".join([chunk.text async for chunk in model.astream("hi")])

        assert [asyncio.run(answer()) for _ in range(3)] == ["".join(WORDS)] * 3


def test_the_transport_opens_its_connections_on_asyncio_sockets(ca):
    transport = BoundedTransport()
    assert transport.on_asyncio_network  # False would mean httpx2 or httpcore2 changed under it: see on_asyncio_network

    async def get(url: str) -> tuple[object, bytes]:
        async with httpx2.AsyncClient(transport=transport) as client, client.stream("GET", url) as response:
            return response.extensions["network_stream"], await response.aread()

    with FakeOpenAIServer() as server:
        stream, body = asyncio.run(get(server.base_url + "/models"))
    assert isinstance(stream, AsyncioStream) and b'"fake"' in body


def test_a_transport_it_was_not_written_for_is_left_as_it_is():
    assert not on_asyncio_network(httpx2.AsyncHTTPTransport(proxy="http://127.0.0.1:9"))  # a proxy's pool: untouched
    assert not on_asyncio_network(object())


# Each case below runs on httpx2's own transport and on this one, against the same real server on
# loopback, and must end the same way: the answer's bytes, or the same httpx2 exception.

def transports(ca: trustme.CA) -> dict[str, Callable[[], httpx2.AsyncHTTPTransport]]:
    trusted = ssl.create_default_context()
    ca.configure_trust(trusted)

    def ours() -> httpx2.AsyncHTTPTransport:
        transport = httpx2.AsyncHTTPTransport(verify=trusted)
        assert on_asyncio_network(transport)
        return transport

    return {"anyio": lambda: httpx2.AsyncHTTPTransport(verify=trusted), "asyncio": ours}


async def served(serve: Serve, use: Callable[[str], Awaitable[object]], tls: ssl.SSLContext | None = None) -> object:
    """Run `serve` for each connection on a loopback port while `use(url)` runs; what `use` returned or raised."""
    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=tls)
    port = server.sockets[0].getsockname()[1]
    try:
        return await use(f"{'https' if tls else 'http'}://127.0.0.1:{port}/")
    except httpx2.HTTPError as error:
        return type(error)
    finally:
        server.close()


def both_ways(ca: trustme.CA, serve: Serve, requests: int = 1, timeout: float = 5.0,
              tls: ssl.SSLContext | None = None) -> dict[str, object]:
    """What `requests` GETs in a row on one client got, on each transport, from `serve` (over `tls` if given)."""
    def use(make: Callable[[], httpx2.AsyncHTTPTransport]) -> Callable[[str], Awaitable[object]]:
        async def get(url: str) -> object:
            async with httpx2.AsyncClient(transport=make(), timeout=timeout) as client:
                return [(await client.get(url)).content for _ in range(requests)]
        return get

    return {name: asyncio.run(served(serve, use(make), tls)) for name, make in transports(ca).items()}


def response(body: bytes, close: bool = False) -> bytes:
    return (b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n" % (len(body), b"Connection: close\r\n" if close else b"")
            + body)


async def read_request(reader: asyncio.StreamReader) -> None:
    await reader.readuntil(b"\r\n\r\n")


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_a_body_past_the_high_water_mark_arrives_whole_and_kept_alive(ca, tls):
    body = bytes(range(256)) * (3 * HIGH_WATER // 256 + 7)  # reading pauses and resumes on the way

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(2):  # two requests on one connection
            await read_request(reader)
            writer.write(response(body))
            await writer.drain()
        writer.close()

    outcomes = both_ways(ca, serve, requests=2, tls=tls_server(ca) if tls else None)
    assert outcomes["asyncio"] == outcomes["anyio"] == [body, body]


def test_a_server_that_closes_an_idle_kept_alive_connection_is_asked_again_on_a_new_one(ca):
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(response(b"one"))  # says nothing of closing, then closes once idle
        await writer.drain()
        writer.close()

    async def settle_then_twice(url: str, make: Callable[[], httpx2.AsyncHTTPTransport]) -> list[bytes]:
        async with httpx2.AsyncClient(transport=make(), timeout=5) as client:
            first = (await client.get(url)).content
            await asyncio.sleep(0.2)  # the server's close arrives while the connection is idle in the pool
            return [first, (await client.get(url)).content]

    outcomes = {name: asyncio.run(served(serve, lambda url, make=make: settle_then_twice(url, make)))
                for name, make in transports(ca).items()}
    assert outcomes["asyncio"] == outcomes["anyio"] == [b"one", b"one"]


async def stall(writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(3)
    writer.close()


async def reset(writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(0.05)
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with a reset
    writer.transport.abort()


async def end(writer: asyncio.StreamWriter) -> None:
    writer.close()


@pytest.mark.parametrize(("then", "expected"), [
    (stall, {httpx2.ReadTimeout}), (reset, {httpx2.ReadError, httpx2.RemoteProtocolError}), (end, {httpx2.RemoteProtocolError}),
], ids=["stalls", "resets", "ends"])
def test_a_server_that_stops_mid_body_fails_the_same_way(ca, then, expected):
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf")
        await writer.drain()
        await then(writer)

    outcomes = both_ways(ca, serve, timeout=0.3 if then is stall else 5.0)  # only the stall may time out
    assert outcomes["asyncio"] == outcomes["anyio"] and outcomes["anyio"] in expected


def test_a_certificate_the_client_does_not_trust_is_refused_the_same_way(ca):
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(response(b"never"))
        await writer.drain()

    stranger = trustme.CA()  # the server's certificate comes from a CA the client was not told of
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    stranger.issue_cert("127.0.0.1").configure_cert(context)

    outcomes = both_ways(ca, serve, tls=context)
    assert outcomes["asyncio"] == outcomes["anyio"] == httpx2.ConnectError


def test_a_port_nobody_listens_on_is_refused_the_same_way(ca):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # bound, not listening: a connection is refused

        async def get(make: Callable[[], httpx2.AsyncHTTPTransport]) -> object:
            async with httpx2.AsyncClient(transport=make(), timeout=5) as client:
                try:
                    return (await client.get(f"http://127.0.0.1:{port}/")).content
                except httpx2.HTTPError as error:
                    return type(error)

        outcomes = {name: asyncio.run(get(make)) for name, make in transports(ca).items()}
    assert outcomes["asyncio"] == outcomes["anyio"] == httpx2.ConnectError
