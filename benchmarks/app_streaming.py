"""The app's streaming figures against the scripted server, over /chat with gradio_client.

    python -m benchmarks.app_streaming [--rounds 3]

Prints, per round: distinct growing prefixes for 100 tokens at 50 tokens/s;
the time from cancelling an answer to the upstream connection closing; and
one user's vs ten simultaneous users' time for a 2-second stream. The tests
assert the bounds (>= 90 prefixes, < 1 s, < 2x); this shows the margins.
"""

from __future__ import annotations

import argparse
import threading
import time

from gradio_client import Client

from tests.conftest import launch, server_settings
from tests.openai_server import FakeOpenAIServer, Scenario, numbered_tokens


def prefixes(url: str, server: FakeOpenAIServer) -> int:
    server.reset(Scenario(tokens=numbered_tokens(100), rate=50))
    job = Client(url, verbose=False).submit("count", "", 0.5, 500, api_name="/chat")
    job.result(timeout=60)
    return len({out[0] for out in job.outputs() if isinstance(out[0], str) and out[0]})


def stop_ms(url: str, server: FakeOpenAIServer) -> float:
    server.reset(Scenario(tokens=numbered_tokens(500), rate=50))
    job = Client(url, verbose=False).submit("go on", "", 0.5, 1000, api_name="/chat")
    while len(job.outputs()) < 10:
        time.sleep(0.01)
    cancelled = time.monotonic()
    job.cancel()
    disconnect = server.wait_for_disconnect()
    return (disconnect.at - cancelled) * 1000 if disconnect else float("inf")


def users_seconds(url: str, server: FakeOpenAIServer, users: int) -> float:
    server.reset(Scenario(tokens=numbered_tokens(40), rate=20))
    clients = [Client(url, verbose=False) for _ in range(users)]
    start = threading.Event()
    spans: list[tuple[float, float]] = []

    def one(client: Client) -> None:
        start.wait()
        began = time.monotonic()
        client.submit("hi", "", 0.5, 500, api_name="/chat").result(timeout=60)
        spans.append((began, time.monotonic()))

    threads = [threading.Thread(target=one, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    start.set()
    for t in threads:
        t.join()
    return max(end for _, end in spans) - min(begin for begin, _ in spans)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with FakeOpenAIServer() as server:
        demo, url = launch(server_settings(server))
        try:
            for _ in range(args.rounds):
                one, ten = users_seconds(url, server, 1), users_seconds(url, server, 10)
                print(
                    f"prefixes {prefixes(url, server)}/100 · stop→upstream closed {stop_ms(url, server):.0f} ms"
                    f" · 1 user {one:.2f} s, 10 users {ten:.2f} s ({ten / one:.2f}x)",
                    flush=True,
                )
        finally:
            demo.close()


if __name__ == "__main__":
    main()
