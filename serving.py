"""What one client address may do to a shared app, enforced where Gradio has no option for it:

- **Logins:** after `FREE_LOGIN_FAILURES` wrong passwords in a row, an address waits before its next
  try, twice as long after each further failure (up to `LONGEST_LOGIN_WAIT`). Other addresses are
  not slowed: the wait is a refusal (429) at once, not a held connection.
- **The login page** says nothing about the app: Gradio embeds the API description (endpoint names,
  labels, defaults such as the system prompt) in every `GET /`, logged in or not; here it is left
  out until the visitor has logged in.
- **Sessions:** Gradio keeps a visitor's state (the chat history) in one store for everyone and drops
  the oldest session when it is full, so one script opening pages could push every real visitor's
  conversation out. Here, when the store is full, the address holding the most sessions gives up
  its least recently used one.

Gradio's own `StateHolder` keeps the sessions; `SessionsPerAddress` only adds who owns which. The
client address is uvicorn's: behind a proxy, uvicorn takes it from X-Forwarded-For only for the
proxy addresses in FORWARDED_ALLOW_IPS (127.0.0.1 by default).

At start-up, Gradio's login check is also moved onto the event loop (`login_check_on_the_loop`), off
the worker thread FastAPI gave it before every join and event stream.

    >>> throttle = LoginThrottle()
    >>> [throttle.failed("a", now=0.0) for _ in range(7)]  # seconds to wait after each wrong login
    [0.0, 0.0, 0.0, 0.0, 0.0, 10.0, 20.0]
    >>> throttle.wait("a", now=5.0), throttle.wait("b", now=5.0)
    (15.0, 0.0)
"""

from __future__ import annotations

import contextvars
import json
import math
import re
import time
from collections import OrderedDict
from contextlib import asynccontextmanager
from typing import Any

from gradio.state_holder import SessionState, StateHolder
from starlette.middleware import Middleware
from starlette.requests import Request

FREE_LOGIN_FAILURES = 5
FIRST_LOGIN_WAIT = 10.0  # seconds, after the first failure beyond the free ones; doubles after each
LONGEST_LOGIN_WAIT = 300.0
ADDRESSES_KEPT = 10_000  # failures and sessions are remembered for at most this many addresses

CLIENT_ADDRESS: contextvars.ContextVar[str] = contextvars.ContextVar("client_address", default="")
ARRIVED = "arrived_at"  # the request's state key for its arrival (time.perf_counter()); ui/answer_frame.py reads it
_API_INFO = re.compile(rb"window\.gradio_api_info = .*?;</script>", re.DOTALL)
_NO_API_INFO = b'window.gradio_api_info = {"named_endpoints": {}, "unnamed_endpoints": {}};</script>'


class LoginThrottle:
    """Wrong logins per address, and how long that address must wait before its next try."""

    def __init__(self) -> None:
        self._failures: OrderedDict[str, tuple[int, float]] = OrderedDict()  # address: (failures, wait until)

    def wait(self, address: str, now: float | None = None) -> float:
        """Seconds `address` must still wait before it may try again (0: it may)."""
        until = self._failures.get(address, (0, 0.0))[1]
        return max(0.0, until - (time.monotonic() if now is None else now))

    def failed(self, address: str, now: float | None = None) -> float:
        """Count a wrong login; returns how long the address must now wait."""
        now = time.monotonic() if now is None else now
        failures = self._failures.pop(address, (0, 0.0))[0] + 1
        beyond = failures - FREE_LOGIN_FAILURES
        wait = min(LONGEST_LOGIN_WAIT, FIRST_LOGIN_WAIT * 2 ** (beyond - 1)) if beyond > 0 else 0.0
        self._failures[address] = (failures, now + wait)
        while len(self._failures) > ADDRESSES_KEPT:
            self._failures.popitem(last=False)
        return wait

    def succeeded(self, address: str) -> None:
        self._failures.pop(address, None)


class _NothingToCopy:
    """The page as `SessionState` reads it, with no blocks for its per-session config copy."""

    blocks: dict[int, Any] = {}

    def __init__(self, page: Any) -> None:
        self.default_config = page.default_config


def _no_config(*_: Any) -> dict[str, Any]:
    return {}  # what Gradio's copy holds for a block outside the session's render: nothing


class _SessionState(SessionState):
    """Gradio's session state, with no copy of the blocks' configs made when it starts (`_NothingToCopy`)
    nor built up in it later. Gradio rebuilds a block's config into that copy on a session's first use
    of each input and output, and at every set of a `gr.State`: about 107 rebuilds in a 100-token
    answer, 35-140 µs each (4 ms of an answer's 90 ms of CPU). The copy is read only by deep links,
    which this page does not offer. A page with `gr.render` keeps Gradio's way after it starts: there
    the session's configs redraw what it renders."""

    def __init__(self, page: Any) -> None:
        super().__init__(_NothingToCopy(page))  # none built when it starts (above)
        if not self.blocks_config.renderables:
            self.blocks_config.config_for_block = _no_config  # type: ignore[method-assign]  # this session's copy only


class SessionsPerAddress(StateHolder):
    """Gradio's session store, holding at most `capacity` sessions. When it is full, a new session
    drops the least recently used session of the address that holds the most, never another
    address's first: a script opening pages from one address pushes out only its own, while many
    people behind one address (a classroom's network, a proxy) keep theirs until they are the
    largest holder. A new session keeps none of Gradio's per-block config copy (see `__getitem__`)."""

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.fixed_capacity = capacity
        self._owned: dict[str, OrderedDict[str, None]] = {}  # address: its sessions, least recently used first
        self._address_of: dict[str, str] = {}

    def set_blocks(self, blocks: Any) -> None:
        super().set_blocks(blocks)
        self.capacity = self.fixed_capacity

    def __getitem__(self, session_id: str) -> Any:
        if session_id in self.session_data:
            self._touch(session_id)
            return super().__getitem__(session_id)
        while len(self.session_data) >= self.capacity:
            self._drop_one()
        address = CLIENT_ADDRESS.get()
        self._owned.setdefault(address, OrderedDict())[session_id] = None
        self._address_of[session_id] = address
        # Gradio copies every block's config into each new session (about 130 KB for this page) for
        # deep links only, which this app does not offer; nor is it built up later (`_SessionState`).
        # Building that copy was 12% of the app's CPU at 100 users (py-spy, issue 26), so it is not built:
        # the new session's state is made from a view of the page that lists no blocks to copy.
        self.session_data[session_id] = _SessionState(self.blocks)
        return super().__getitem__(session_id)

    def sessions_of(self, address: str) -> list[str]:
        return list(self._owned.get(address, ()))

    def _touch(self, session_id: str) -> None:
        owned = self._owned.get(self._address_of.get(session_id, ""))
        if owned is not None and session_id in owned:
            owned.move_to_end(session_id)

    def _claim(self, address: str) -> tuple[int, float]:
        """Who gives up a session: the most sessions first, then the one least recently used."""
        owned = self._owned[address]
        used = self.time_last_used.get(next(iter(owned)))
        return len(owned), -used.timestamp() if used else 0.0

    def _drop_one(self) -> None:
        address = max(self._owned, key=self._claim, default=None)
        if address is None:  # sessions this store did not admit (none, in practice): Gradio's own order
            oldest = next(iter(self.session_data))
        else:
            oldest, _ = self._owned[address].popitem(last=False)
            if not self._owned[address]:
                del self._owned[address]
        self._address_of.pop(oldest, None)
        self.delete_state(oldest)
        self.session_data.pop(oldest, None)
        self.time_last_used.pop(oldest, None)

    @classmethod
    def install(cls, app: Any, capacity: int) -> SessionsPerAddress:
        """Put this store in place of the running Gradio app's own (at start-up, before any session)."""
        holder = cls(capacity)
        holder.session_data.update(app.state_holder.session_data)
        app.state_holder = holder
        holder.set_blocks(app.get_blocks())
        return holder


class VisitorGuard:
    """ASGI middleware: the client's address for `SessionsPerAddress`, the login throttle, a login
    page without the API description, and each request's arrival time (in its state, as `ARRIVED`)."""

    def __init__(self, app: Any, throttle: LoginThrottle) -> None:
        self.app = app
        self.throttle = throttle

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # When the request came: an answer's Debug times its first token from here, wait in line included.
        scope.setdefault("state", {})[ARRIVED] = time.perf_counter()
        address = (scope.get("client") or ("",))[0]
        token = CLIENT_ADDRESS.set(address)
        try:
            gradio_app = scope.get("app")
            path, method = scope["path"].rstrip("/"), scope["method"]
            if method == "POST" and path.endswith("/login"):
                await self._login(address, scope, receive, send)
            elif method == "GET" and path == (scope.get("root_path") or "").rstrip("/") and not _logged_in(gradio_app, scope):
                await self._without_api_info(scope, receive, send)
            else:
                await self.app(scope, receive, send)
        finally:
            CLIENT_ADDRESS.reset(token)

    async def _login(self, address: str, scope: dict, receive: Any, send: Any) -> None:
        wait = self.throttle.wait(address)
        if wait > 0:
            await _refuse(send, 429, f"Too many wrong logins from your address: try again in {math.ceil(wait)} seconds.")
            return
        status: list[int] = []

        async def watch(message: dict) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        await self.app(scope, receive, watch)
        if status and status[0] == 200:
            self.throttle.succeeded(address)
        elif status and status[0] in (400, 401):
            self.throttle.failed(address)

    async def _without_api_info(self, scope: dict, receive: Any, send: Any) -> None:
        start: dict = {}
        body = bytearray()

        async def hold(message: dict) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                body.extend(message.get("body", b""))
                if not message.get("more_body"):
                    page = _API_INFO.sub(_NO_API_INFO, bytes(body))
                    headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
                    await send({**start, "headers": [*headers, (b"content-length", str(len(page)).encode())]})
                    await send({"type": "http.response.body", "body": page})
            else:
                await send(message)

        await self.app(scope, receive, hold)


def _logged_in(app: Any, scope: dict) -> bool:
    """True when the app has no login, or the request carries a valid login cookie (Gradio's)."""
    if app is None or getattr(app, "auth", None) is None:
        return True
    cookies = Request(scope).cookies
    token = cookies.get(f"access-token-{app.cookie_id}") or cookies.get(f"access-token-unsecure-{app.cookie_id}")
    return token in app.tokens


async def _refuse(send: Any, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def login_check_on_the_loop(app: Any) -> None:
    """Gradio's `login_check`, a dependency of every route a visitor's answer takes (joining the line,
    the event stream), is a plain `def`, so FastAPI ran it on a worker thread: each request waited for
    a turn of the event loop to get its result back, and with ten visitors at once the loop is busy
    with their answers. It only looks a cookie up, so here it runs on the loop.

    The swap is made in the routes' own dependency records, once. FastAPI's `dependency_overrides`
    would do the same, but while any override is set, FastAPI rebuilds the record of every dependency
    of every request from its signature (`get_dependant`): more CPU than the thread hop it saved
    (docs/benchmarks.md, tenth pass)."""
    dependants = list(_dependants(app))
    login_check = next((d.call for d in dependants if getattr(d.call, "__name__", "") == "login_check"
                        and [sub.name for sub in d.dependencies] == ["user"]), None)
    if login_check is None:  # not the `login_check(user)` this was written for: left where it was
        return

    async def on_the_loop(user: str | None = None) -> None:
        return login_check(user)

    for dependant in dependants:
        if dependant.call is login_check:
            dependant.call = on_the_loop


def _dependants(app: Any) -> Any:
    """Every FastAPI dependency record of `app`'s routes (the routers Gradio's app includes too), with
    the records of the dependencies they depend on."""
    stack = []
    for route in app.routes:
        for candidate in [route, *getattr(route, "effective_candidates", list)()]:
            for holder in (candidate, getattr(candidate, "original_route", None)):
                dependant = getattr(holder, "dependant", None)
                if dependant is not None:
                    stack.append(dependant)
    seen: set[int] = set()
    while stack:
        dependant = stack.pop()
        if id(dependant) not in seen:
            seen.add(id(dependant))
            yield dependant
            stack.extend(dependant.dependencies)


def guarded_app_kwargs(max_sessions: int) -> dict[str, Any]:
    """`demo.launch(app_kwargs=...)`: the middleware, and at start-up the session store put in place and
    the login check moved onto the loop."""

    @asynccontextmanager
    async def lifespan(app: Any):
        SessionsPerAddress.install(app, max_sessions)
        login_check_on_the_loop(app)
        yield

    return {"middleware": [Middleware(VisitorGuard, throttle=LoginThrottle())], "lifespan": lifespan}
