"""A crowd on the offline model: many visitors sending at once, through the running app.

    python -m benchmarks.crowd [--visitors 40] [--max-tokens 64] [--parallel 8 --parallel 1] [--long-prompts 1]

For each `--parallel` (answers the model process decodes together, LOCAL_PARALLEL), the app is
started on the bundled model, one visitor asks alone, then every visitor asks at once (one
gradio_client per visitor, made beforehand). Reported side by side:
- tokens/s: tokens in the Debug tables over wall time, for one visitor alone and for the crowd;
- the crowd's aggregate over one visitor's (the goal: at least 2x);
- first token as each visitor saw it, from sending (queue wait included): median and last;
- failures, and answers whose Debug did not end in "✓ Complete".
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time

from gradio_client import Client

from benchmarks.figures import Figure
from llm import Settings
from tests.conftest import launch

PROMPT = "Write a long story about a lighthouse keeper."
# About 1,500 tokens: the visitor who pastes a long text, whose prompt the model reads in pieces.
LONG_PROMPT = "Summarize this log in one sentence:\n" + "".join(
    f"{n:04d} the keeper climbed the stairs, lit the lamp, wound the clock and wrote the weather down.\n" for n in range(60))


def _visit(client: Client, max_tokens: int, sent: float, into: list[dict], prompt: str = PROMPT) -> None:
    job = client.submit(prompt, "", 0.7, max_tokens, api_name="/chat")
    first = None
    try:
        while not job.done():
            if first is None and any(isinstance(o[0], str) and o[0] for o in job.outputs()):
                first = time.perf_counter() - sent
            time.sleep(0.01)
        job.result(timeout=600)
        last = job.outputs()[-1]
        rows = last[2]["data"] if isinstance(last[2], dict) else last[2]
        tokens = sum(1 for row in rows if json.loads(row[3]))
        into.append({"first": first if first is not None else time.perf_counter() - sent, "tokens": tokens,
                     "exact": "✓ Complete" in last[1], "failed": False})
    except Exception as error:  # counted, and shown
        into.append({"first": None, "tokens": 0, "exact": False, "failed": True, "error": str(error)[:200]})


def crowd(url: str, visitors: int, max_tokens: int, long_prompts: int = 0) -> dict:
    """Every visitor sends at once; the first `long_prompts` of them send `LONG_PROMPT`."""
    clients = [Client(url, verbose=False) for _ in range(visitors)]
    results: list[dict] = []
    start = time.perf_counter()
    threads = [threading.Thread(target=_visit, args=(client, max_tokens, start, results,
                                                     LONG_PROMPT if n < long_prompts else PROMPT))
               for n, client in enumerate(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    firsts = sorted(r["first"] for r in results if r["first"] is not None)
    return {"visitors": visitors, "wall_s": wall, "tokens_per_s": sum(r["tokens"] for r in results) / wall,
            "first_token_median_s": statistics.median(firsts) if firsts else None,
            "first_token_last_s": firsts[-1] if firsts else None,
            "failed": sum(r["failed"] for r in results), "not_exact": sum(not r["exact"] for r in results)}


def measure(visitors: int, max_tokens: int, parallel: int, long_prompts: int = 0) -> dict:
    demo, url = launch(Settings(provider="local", local_parallel=parallel))
    try:
        crowd(url, 1, 8)  # the model process starts, and is warm
        one = crowd(url, 1, max_tokens)
        many = crowd(url, visitors, max_tokens, long_prompts)
    finally:
        demo.close()
    return {"parallel": parallel, "one_visitor_tokens_per_s": one["tokens_per_s"], **many,
            "crowd_over_one": many["tokens_per_s"] / one["tokens_per_s"]}


def figures(visitors: int, max_tokens: int) -> list[Figure]:
    """The crowd case of `benchmarks.run`: LOCAL_PARALLEL's default against one answer at a time."""
    from llm.backends.config import DEFAULT_PARALLEL

    batched, alone = measure(visitors, max_tokens, DEFAULT_PARALLEL), measure(visitors, max_tokens, 1)
    case = f"offline model, {visitors} visitors at once, {max_tokens} tokens each"
    fine = batched["failed"] == 0 and batched["not_exact"] == 0
    return [
        Figure(f"{case}: aggregate tokens/s over one visitor's", f"{batched['crowd_over_one']:.2f}× "
               f"({batched['tokens_per_s']:.0f} vs {batched['one_visitor_tokens_per_s']:.0f} tokens/s; one answer at "
               f"a time: {alone['crowd_over_one']:.2f}×)", "≥ 2×", batched["crowd_over_one"] >= 2),
        Figure(f"{case}: last visitor's first token", f"{batched['first_token_last_s']:.1f} s (median "
               f"{batched['first_token_median_s']:.1f} s; one at a time: last {alone['first_token_last_s']:.1f} s)",
               "≤ 20 s", batched["first_token_last_s"] <= 20),
        Figure(f"{case}: failed or not exact in Debug", f"{batched['failed']} failed, {batched['not_exact']} not exact",
               "0", fine),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--visitors", type=int, default=40)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--parallel", type=int, action="append")
    parser.add_argument("--long-prompts", type=int, default=0, help="how many visitors send a ~1,500-token prompt")
    args = parser.parse_args()
    for parallel in args.parallel or [8, 1]:
        print(json.dumps(measure(args.visitors, args.max_tokens, parallel, args.long_prompts)), flush=True)


if __name__ == "__main__":
    main()
