"""The offline model, in one run: the app vs raw llama-cpp-python, Stop to stopped,
and (with --native-python) the portable build vs a native one.

    python -m benchmarks.local_model [--rounds 5] [--max-tokens 256] [--native-python PATH]
    python -m benchmarks.local_model --probabilities   # what token probabilities cost

Sides, rounds alternating so warm-up and noise hit each of them:
- raw: llama-cpp-python's `create_chat_completion(stream=True)` in a process of
  its own (benchmarks/raw_llama.py): same build, GGUF, threads, settings, seed;
- app: the same prompt through the running app's /chat with gradio_client; the
  rate comes from the app's Debug table, i.e. when each chunk reached the app;
- provider: `ChatLocalModel.astream` through the accumulator, as the chat iterates it;
- native: raw on a build tuned to this CPU, from another virtual environment
  (`pip wheel --no-cache-dir llama-cpp-python==<same version>` there).
Tokens/s is tokens after the first over the time from the first to the last.
Stop: cancel a /chat answer, then time until the model process takes a new request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from gradio_client import Client

from llm import Accumulator, Settings, aaccumulate, build_chat_model
from llm.backends.local import default_threads, resolve_model_path, runtime_for
from tests.conftest import launch

PROMPT = "Write a short story about a lighthouse keeper."
RAW = Path(__file__).with_name("raw_llama.py")


class RawWorker:
    def __init__(self, python: str, model: str, max_tokens: int, logits_all: bool = False, top: int = 0) -> None:
        args = [python, str(RAW), model, str(default_threads()), str(max_tokens), str(int(logits_all)), str(top)]
        self.process = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout.readline().strip() == "ready"
        self.resident_mb = 0.0  # after the latest answer

    def __call__(self) -> float:
        self.process.stdin.write("go\n")
        self.process.stdin.flush()
        rate, _, resident = self.process.stdout.readline().split()
        self.resident_mb = float(resident)
        return float(rate)

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()


def rate(ms: list[float]) -> float:
    return (len(ms) - 1) * 1000 / (ms[-1] - ms[0]) if len(ms) > 1 and ms[-1] > ms[0] else 0.0


def through_app(url: str, max_tokens: int) -> float:
    job = Client(url, verbose=False).submit(PROMPT, "", 0.7, max_tokens, api_name="/chat")
    job.result(timeout=300)
    table = job.outputs()[-1][2]
    rows = table["data"] if isinstance(table, dict) else table
    return rate([row[1] for row in rows if json.loads(row[3])])


def through_provider(settings: Settings, max_tokens: int, loop: asyncio.AbstractEventLoop) -> float:
    async def go() -> list[float]:
        model = build_chat_model(settings).bind(max_tokens=max_tokens, seed=42)
        acc = Accumulator()
        return [r.ms_since_start async for _, r in aaccumulate(model.astream(PROMPT), acc) if r.text]

    return rate(loop.run_until_complete(go()))  # one loop for every round, as in the app


def stop_ms(url: str, settings: Settings) -> float:
    runtime = runtime_for(settings)
    job = Client(url, verbose=False).submit("Write a very long story about the sea.", "", 1.0, 1500, api_name="/chat")
    while len(job.outputs()) < 10:
        time.sleep(0.005)
    cancelled = time.monotonic()
    try:
        job.cancel()
    except httpx.TimeoutException:  # Gradio's /cancel answered late (once in a run here); the cancel was sent
        pass
    httpx.post(f"http://127.0.0.1:{runtime.port}/extras/tokenize/count", json={"input": str(cancelled)},
               headers={"Authorization": f"Bearer {runtime.api_key}"}, timeout=60)
    return (time.monotonic() - cancelled) * 1000


SIDES = {"raw": "raw llama-cpp-python (portable build)", "native": "raw llama-cpp-python (native build)",
         "app": "app, over /chat (Debug table timings)", "provider": "provider, ChatLocalModel.astream"}


def alternating(sides: dict[str, Callable[[], float]], rounds: int,
                after_round: Callable[[], object] | None = None) -> dict[str, list[float]]:
    """Each side's figure over `rounds` rounds, the sides taking turns so warm-up and noise hit each of
    them alike, after one warm-up round that is not counted; `after_round` runs after each counted one."""
    for run in sides.values():
        run()
    results: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(rounds):
        for name, run in sides.items():
            results[name].append(run())
        if after_round is not None:
            after_round()
    return results


def measure(rounds: int, max_tokens: int, native_python: str | None = None,
            stops_too: bool = True) -> tuple[dict[str, list[float]], list[float]]:
    """Tokens/s per side (keys of SIDES) over `rounds` alternating rounds, and Stop times in ms."""
    settings = Settings(provider="local", local_seed=42, temperature=0.7, max_tokens=max_tokens)
    model_path = resolve_model_path(settings)
    demo, url = launch(settings)
    loop = asyncio.new_event_loop()
    runtime_for(settings).wait_ready()
    workers = {"raw": RawWorker(sys.executable, model_path, max_tokens)}
    if native_python:
        workers["native"] = RawWorker(native_python, model_path, max_tokens)
    sides = {**workers, "app": lambda: through_app(url, max_tokens),
             "provider": lambda: through_provider(settings, max_tokens, loop)}
    stops: list[float] = []
    try:
        results = alternating(sides, rounds, (lambda: stops.append(stop_ms(url, settings))) if stops_too else None)
    finally:
        for worker in workers.values():
            worker.close()
        demo.close()
        loop.close()
    return results, stops


PROBABILITY_SIDES = {"off": "raw, logits of the last token only", "logits": "raw, logits of every token (logits_all)",
                     "probs": "raw, logits_all + 5 alternatives per token"}


def probability_cost(rounds: int, max_tokens: int, top: int = 5) -> dict[str, tuple[float, float]]:
    """What token probabilities cost the bundled model: median tokens/s and resident MB (after the last
    answer) of raw llama-cpp-python without them, with every token's logits kept (the model process
    runs so, see llm/backends/runtime_server.py), and asked for `top` alternatives per token."""
    path = resolve_model_path(Settings(provider="local"))
    workers = {"off": RawWorker(sys.executable, path, max_tokens),
               "logits": RawWorker(sys.executable, path, max_tokens, logits_all=True),
               "probs": RawWorker(sys.executable, path, max_tokens, logits_all=True, top=top)}
    try:
        rates = alternating(workers, rounds)
        return {name: (statistics.median(rates[name]), worker.resident_mb) for name, worker in workers.items()}
    finally:
        for worker in workers.values():
            worker.close()


def compare(rounds: int, max_tokens: int) -> dict[str, float]:
    """Median tokens/s of raw, app and provider (for benchmarks.run)."""
    results, _ = measure(rounds, max_tokens, stops_too=False)  # Stop is tested, and timed by this module
    return {name: statistics.median(values) for name, values in results.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--native-python", help="an interpreter whose llama-cpp-python was built natively")
    parser.add_argument("--probabilities", action="store_true", help="only what token probabilities cost")
    args = parser.parse_args()
    if args.probabilities:
        cost = probability_cost(args.rounds, args.max_tokens)
        print(f"{args.rounds} rounds, {args.max_tokens} max tokens: tokens/s, resident MB after the last answer")
        for name, (rate_, resident) in cost.items():
            print(f"  {PROBABILITY_SIDES[name]:45s} {rate_:7.1f} {resident:6.0f} MB  {rate_ / cost['off'][0]:.3f}x")
        return
    results, stops = measure(args.rounds, args.max_tokens, args.native_python)
    raw = statistics.median(results["raw"])
    print(f"{args.rounds} rounds, {args.max_tokens} max tokens, {default_threads()} generating thread(s); tokens/s:")
    print(f"  {'':40s} {'median':>7s} {'min':>6s} {'max':>6s}  median vs raw portable")
    for name, values in results.items():
        median = statistics.median(values)
        print(f"  {SIDES[name]:40s} {median:7.1f} {min(values):6.1f} {max(values):6.1f}  {median / raw:.3f}x")
    print(f"Stop → model free for the next request: median {statistics.median(stops):.0f} ms, "
          f"max {max(stops):.0f} ms over {len(stops)}")


if __name__ == "__main__":
    main()
