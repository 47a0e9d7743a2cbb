"""200 sessions over 60 seconds, mixing good messages with bad ones: no errors, every valid answer
complete and exact, and each session's history and Debug tab hold only its own messages."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from gradio_client import Client

from tests.openai_server import Scenario
from tests.test_app import table_texts

pytestmark = pytest.mark.slow

SESSIONS, SECONDS = 200, 60
BAD = [("x" * 25_000, 0.5, "The message is 25,000 characters"), ("hello", "hot", "Temperature must be"),
       ("   ", 0.5, "Type a message first.")]


def one_session(url: str, number: int) -> list[str]:
    """Good, bad, good again; returns what went wrong (nothing, if all is well)."""
    client, problems = Client(url, verbose=False), []
    first, second = f"session {number} alpha", f"session {number} beta"
    answer, _, table, _ = client.predict(first, "", 0.5, 100, api_name="/chat")
    if answer != first or "".join(table_texts(table)) != first:
        problems.append(f"{number}: first answer {answer!r}, Debug {''.join(table_texts(table))!r}")
    message, temperature, says = BAD[number % len(BAD)]
    refused = client.predict(message, "", temperature, 100, api_name="/chat")[0]
    if not (isinstance(refused, dict) and refused["content"].startswith(says)):
        problems.append(f"{number}: bad input answered with {refused!r}")
    answer, _, table, _ = client.predict(second, "", 0.5, 100, api_name="/chat")
    if answer != second or "".join(table_texts(table)) != second:
        problems.append(f"{number}: second answer {answer!r}")
    return problems


@pytest.mark.timeout(300)
def test_two_hundred_sessions_in_a_minute_each_see_only_their_own(app_url, server):
    server.scenario = Scenario(echo=True, rate=100)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=32) as pool:
        futures = []
        for number in range(SESSIONS):  # one new session every 0.3 s: 200 over 60 s
            time.sleep(max(0.0, started + number * SECONDS / SESSIONS - time.monotonic()))
            futures.append(pool.submit(one_session, app_url, number))
        problems = [p for future in futures for p in future.result(timeout=120)]
    assert problems == []
    assert len(server.requests) == 2 * SESSIONS  # the bad messages never went upstream
    for body in server.requests:  # each request carries only its own session's conversation
        said = [m["content"] for m in body["messages"] if m["role"] != "system"]
        session = said[0].split()[1]
        assert said in ([f"session {session} alpha"],
                        [f"session {session} alpha", f"session {session} alpha", f"session {session} beta"])
