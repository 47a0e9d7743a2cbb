"""Benchmark the local provider against raw llama-cpp-python, in one run.

    python -m benchmarks.local_model [--rounds 5] [--max-tokens 256]

Both sides use the same loaded GGUF, prompt, sampling settings and seed, and
the same definition: tokens after the first, over the time from the first
token to the last. Rounds alternate sides so warm-up and noise hit both.
Also reports what loading costs (the page opens before it: app.py loads the
model on a background thread).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from llm import Accumulator, Settings, aaccumulate, accumulate, build_chat_model
from llm.local import load_llama

PROMPT = "Write a short story about a lighthouse keeper."


def rate(times: list[float]) -> float:
    return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0


def raw_llama(llama, params: dict) -> float:
    times = []
    for part in llama.create_chat_completion(
        messages=[{"role": "user", "content": PROMPT}], stream=True, **params
    ):
        if part["choices"][0]["delta"].get("content"):
            times.append(time.perf_counter())
    return rate(times)


def provider_sync(model, params: dict) -> float:
    acc = Accumulator()
    times = [time.perf_counter() for _, r in accumulate(model.stream(PROMPT, **params), acc) if r.text]
    return rate(times)


def provider_async(model, params: dict) -> float:
    async def go():
        acc = Accumulator()
        return [time.perf_counter() async for _, r in aaccumulate(model.astream(PROMPT, **params), acc) if r.text]

    return rate(asyncio.run(go()))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=256)
    args = parser.parse_args()

    settings = Settings(provider="local")
    started = time.perf_counter()
    model = build_chat_model(settings)
    built = time.perf_counter() - started
    started = time.perf_counter()
    llama, _ = load_llama(model.model_path, model.n_ctx, model.n_threads)
    loaded = time.perf_counter() - started
    print(f"model object built (lazy): {built * 1000:.1f} ms; weights loaded (eager): {loaded * 1000:.0f} ms")

    params = dict(temperature=0.7, max_tokens=args.max_tokens, repeat_penalty=1.1, seed=42)
    sides = {"raw llama-cpp-python": lambda: raw_llama(llama, params),
             "provider, sync (notebook)": lambda: provider_sync(model, params),
             "provider, async (app)": lambda: provider_async(model, params)}
    results: dict[str, list[float]] = {name: [] for name in sides}
    sides["raw llama-cpp-python"]()  # warm-up, not counted
    for _ in range(args.rounds):
        for name, run in sides.items():
            results[name].append(run())
    raw = statistics.median(results["raw llama-cpp-python"])
    print(f"{args.rounds} rounds, {args.max_tokens} max tokens, tokens/s:")
    print(f"  {'':28s} {'median':>7s} {'min':>6s} {'max':>6s}  median vs raw")
    for name, values in results.items():
        median = statistics.median(values)
        print(f"  {name:28s} {median:7.1f} {min(values):6.1f} {max(values):6.1f}  {median / raw:.3f}x")


if __name__ == "__main__":
    main()
