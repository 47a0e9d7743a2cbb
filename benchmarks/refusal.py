"""How fast an oversized message is refused: a 1,000,000-character message over `/chat`, five
times, against the real app and the scripted server. Prints seconds per refusal and how many
requests reached the server (should be 0).

    python -m benchmarks.refusal
"""

import time

from gradio_client import Client

from tests.conftest import launch, server_settings
from tests.openai_server import FakeOpenAIServer


def main() -> None:
    with FakeOpenAIServer() as server:
        demo, url = launch(server_settings(server))
        client, seconds = Client(url, verbose=False), []
        for _ in range(5):
            started = time.perf_counter()
            answer = client.predict("x" * 1_000_000, "Be brief.", 0.5, 100, api_name="/chat")[0]
            seconds.append(time.perf_counter() - started)
        demo.close()
    print(f"note: {answer['content'][:70]}…")
    print(f"seconds per refusal: {', '.join(f'{s:.3f}' for s in seconds)}; upstream requests: {len(server.requests)}")


if __name__ == "__main__":
    main()
