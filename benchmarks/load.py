"""A light load generator: many users on one Gradio app, over the queue API the page itself uses.

Each user is one session: the page opens (its load events, as a browser runs them), then
`POST /gradio_api/queue/join` and the Server-Sent Events of `GET /gradio_api/queue/data`.
All users have the page open before the first one sends. Streaming updates arrive as diffs; the client never applies
them (that is the browser's CPU, not the server's). It notes when the first token shows
up and keeps the final message, which Gradio sends whole. One asyncio loop, one process:
on 2 cores a thread per gradio_client costs more CPU than the app it measures.

    >>> import asyncio
    >>> from benchmarks.load import Endpoint, run_users
    >>> chat = Endpoint.find("http://127.0.0.1:7860/", "chat")          # doctest: +SKIP
    >>> users = asyncio.run(run_users(chat, ["hi"] * 10, first="w0"))   # doctest: +SKIP
    >>> users[0].outputs[0]                                              # doctest: +SKIP
    'w0 w1 w2 …'
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass(frozen=True)
class Endpoint:
    """Where to send one named API event, and how its inputs are laid out."""

    url: str  # the app's root, ending in "/"
    fn_index: int
    states: tuple[int, ...]  # input positions the page fills from session state; the API sends null
    on_load: tuple[int, ...] = ()  # events the page runs on the server when it opens (queue=False)
    defaults: tuple[Any, ...] = ()  # each input's value in the page: what inputs left out are sent as

    @classmethod
    def find(cls, url: str, api_name: str) -> Endpoint:
        config = httpx.get(url + "config", timeout=30).json()
        kinds = {c["id"]: c["type"] for c in config["components"]}
        values = {c["id"]: (c.get("props") or {}).get("value") for c in config["components"]}
        on_load = tuple(d["id"] for d in config["dependencies"] if d.get("backend_fn") and d.get("queue") is False
                        and any(t[1] == "load" for t in d["targets"]))
        for dep in config["dependencies"]:
            if dep.get("api_name") == api_name:
                states = tuple(i for i, c in enumerate(dep["inputs"]) if kinds[c] == "state")
                return cls(url, dep["id"], states, on_load, tuple(values[c] for c in dep["inputs"]))
        raise LookupError(f"{url} has no API named {api_name!r}")

    def data(self, values: Sequence[Any]) -> list[Any]:
        """`values` with the session's states in their places, and inputs added since the caller was
        written (at the end, as `/chat` adds them) at the page's values, as gradio_client does."""
        data = list(values)
        for i in self.states:
            data.insert(i, None)
        return data + list(self.defaults[len(data):])


@dataclass
class User:
    """One user's request: when it went in, when the first token came back, and the last outputs."""

    submitted: float = 0.0
    first_token: float | None = None
    finished: float | None = None
    updates: int = 0
    statuses: int = 0  # the queue's messages about this user's place in line ("estimation")
    outputs: list[Any] = field(default_factory=list)
    error: str | None = None

    @property
    def ttft(self) -> float:
        return (self.first_token or float("inf")) - self.submitted


async def open_page(client: httpx.AsyncClient, endpoint: Endpoint) -> str:
    """What a browser does on opening the page before anyone types: a new session, and the page's
    load events that run on the server. Returns the session."""
    session = uuid.uuid4().hex
    for fn_index in endpoint.on_load:
        opened = await client.post(endpoint.url + "gradio_api/run/predict", json={
            "data": [], "fn_index": fn_index, "session_hash": session, "event_data": None, "trigger_id": None})
        opened.raise_for_status()
    return session


async def one_user(
    client: httpx.AsyncClient, endpoint: Endpoint, inputs: Sequence[Any], first: str, session: str | None = None
) -> User:
    """Submit once in `session` (default: a new one) and read its events until the answer completes."""
    user = User()
    session = session or await open_page(client, endpoint)
    marker = json.dumps(first)[1:-1]  # how the first token's text looks inside the JSON of an update
    body = {"data": endpoint.data(inputs), "fn_index": endpoint.fn_index, "session_hash": session,
            "event_data": None, "trigger_id": None}
    user.submitted = time.monotonic()
    joined = await client.post(endpoint.url + "gradio_api/queue/join", json=body)
    if joined.status_code != 200:
        user.error = f"join: HTTP {joined.status_code} {joined.text[:200]}"
        return user
    async with client.stream("GET", endpoint.url + "gradio_api/queue/data", params={"session_hash": session}) as events:
        async with aclosing(events.aiter_lines()) as lines:
            await _read_events(user, lines, marker)
    if user.finished is None and user.error is None:
        user.error = "the event stream ended before the answer completed"
    return user


async def _read_events(user: User, lines: AsyncIterator[str], marker: str) -> None:
    """Note the first update that shows `marker` and keep the completed event's outputs."""
    async for line in lines:
        if not line.startswith("data:"):
            continue
        if '"estimation"' in line:
            user.statuses += 1
        elif '"process_generating"' in line:
            user.updates += 1
            if user.first_token is None and marker in line:
                user.first_token = time.monotonic()
        elif '"process_completed"' in line:
            user.finished = time.monotonic()
            message = json.loads(line[5:])
            if not message.get("success"):
                user.error = str(message.get("output"))[:300]
            user.outputs = (message.get("output") or {}).get("data") or []
            if user.first_token is None and marker in line:
                user.first_token = user.finished
            return


async def run_users(
    endpoint: Endpoint, messages: Sequence[Sequence[Any]], first: str, local_address: str | None = None
) -> list[User]:
    """All users at once, one per item of `messages` (each the endpoint's inputs), from
    `local_address` if given (a loopback address such as 127.0.1.1: a different client to a proxy)."""
    # keepalive_expiry below uvicorn's 5 s: never reuse a connection the server may just have closed.
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None, keepalive_expiry=2.0)
    # Everyone has the page open, then everyone sends at once.
    opening = httpx.AsyncHTTPTransport(limits=limits, local_address=local_address)
    async with httpx.AsyncClient(transport=opening, timeout=httpx.Timeout(60.0)) as opener:
        sessions = await asyncio.gather(*(open_page(opener, endpoint) for _ in messages))

    async def alone(inputs: Sequence[Any], session: str) -> User:
        # A pool per user, as each browser has its own: httpcore scans its whole pool on every event,
        # which for one pool of 200 streams cost the load generator more CPU than the app's work.
        async with httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(local_address=local_address, verify=False),
                                     timeout=httpx.Timeout(600.0)) as client:
            return await one_user(client, endpoint, inputs, first, session)

    return list(await asyncio.gather(*(alone(m, s) for m, s in zip(messages, sessions))))


async def run_sessions(endpoint: Endpoint, sessions: int, chats: int, inputs: Sequence[Any], first: str) -> list[User]:
    """`sessions` visitors at once, each sending `chats` messages one after another (a conversation)."""
    async def conversation(client: httpx.AsyncClient) -> list[User]:
        session = await open_page(client, endpoint)
        return [await one_user(client, endpoint, inputs, first, session) for _ in range(chats)]

    limits = httpx.Limits(keepalive_expiry=2.0)  # see run_users
    async with httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(600.0)) as client:
        return [u for users in await asyncio.gather(*(conversation(client) for _ in range(sessions))) for u in users]


@dataclass
class Summary:
    """What a run of many users comes to."""

    users: int
    wall_s: float
    ttft_p50_s: float
    ttft_p95_s: float
    errors: int

    @classmethod
    def of(cls, users: list[User]) -> Summary:
        ttfts = sorted(u.ttft for u in users)
        done = [u.finished for u in users if u.finished is not None]
        wall = (max(done) - min(u.submitted for u in users)) if done else float("inf")
        return cls(len(users), wall, percentile(ttfts, 50), percentile(ttfts, 95), sum(u.error is not None for u in users))


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile (p95 of 10 values is the 10th): no interpolation between users."""
    if not sorted_values:
        return float("nan")
    rank = max(1, -(-len(sorted_values) * p // 100))
    return sorted_values[int(rank) - 1]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")
