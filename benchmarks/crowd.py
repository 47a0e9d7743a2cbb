"""A crowd on the offline model: many visitors sending at once, through the running app.

    python -m benchmarks.crowd [--visitors 40] [--max-tokens 64] [--parallel 8 --parallel 1] [--long-prompts 1]
    python -m benchmarks.crowd --model-alone [--parallel 8]   # the model's process without the app

For each `--parallel` (answers the model process decodes together, LOCAL_PARALLEL), `python app.py`
runs on the bundled model in a process of its own; one visitor asks alone, then every visitor asks
at once, from benchmarks/load.py (one asyncio process over Gradio's queue API, as the page does:
a thread per gradio_client would cost more CPU than the app). Reported side by side:
- tokens/s: tokens in the Debug tables over wall time, for one visitor alone and for the crowd;
- the crowd's aggregate over one visitor's (the goal: at least 2x);
- first token, from each visitor's Debug table, which counts from the request (queue wait
  included): median and last;
- failures, and answers whose Debug did not end in "✓ Complete".

`--model-alone` sends the same crowd straight to the model's process, over the same OpenAI-compatible
HTTP the app's ChatOpenAI speaks, with no app: what batching gives when nothing else shares the cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from pathlib import Path

import httpx

from benchmarks.figures import Figure
from benchmarks.load import Endpoint, Summary, User, run_users
from benchmarks.processes import cpu_seconds, started
from tests.conftest import free_port

PROMPT = "Write a long story about a lighthouse keeper."
# About 1,500 tokens: the visitor who pastes a long text, whose prompt the model reads in pieces.
LONG_PROMPT = "Summarize this log in one sentence:\n" + "".join(
    f"{n:04d} the keeper climbed the stairs, lit the lamp, wound the clock and wrote the weather down.\n" for n in range(60))


def _outcome(user: User) -> dict:
    """What one visitor got, read from the final outputs: the Debug table's text chunks and summary."""
    table = user.outputs[3] if len(user.outputs) > 3 else None  # /chat's Debug table (as benchmarks.measures reads it)
    rows = [row for row in (table.get("data", []) if isinstance(table, dict) else table or []) if json.loads(row[3])]
    summary = next((o for o in user.outputs if isinstance(o, str) and "time to first token" in o), "")
    return {"tokens": len(rows), "first_s": rows[0][1] / 1000 if rows else None, "exact": "✓ Complete" in summary,
            "failed": user.error is not None}


def crowd(chat: Endpoint, visitors: int, max_tokens: int, long_prompts: int = 0) -> dict:
    """Every visitor sends at once; the first `long_prompts` of them send `LONG_PROMPT`."""
    messages = [[LONG_PROMPT if n < long_prompts else PROMPT, "", 0.7, max_tokens] for n in range(visitors)]
    users = asyncio.run(run_users(chat, messages, first=""))
    wall = Summary.of(users).wall_s
    got = [_outcome(user) for user in users]
    firsts = sorted(g["first_s"] for g in got if g["first_s"] is not None)
    return {"visitors": visitors, "wall_s": wall, "tokens_per_s": sum(g["tokens"] for g in got) / wall,
            "first_token_median_s": statistics.median(firsts) if firsts else None,
            "first_token_last_s": firsts[-1] if firsts else None,
            "failed": sum(g["failed"] for g in got), "not_exact": sum(not g["exact"] for g in got),
            **({"others_first_token_last_s": max((g["first_s"] for g in got[long_prompts:] if g["first_s"] is not None),
                                                  default=None),
                "long_first_token_s": [g["first_s"] for g in got[:long_prompts]]} if long_prompts else {})}


def measure(visitors: int, max_tokens: int, parallel: int, long_prompts: int = 0, model_path: str | None = None) -> dict:
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    env = {"LOCAL_PARALLEL": str(parallel), **({"LOCAL_MODEL_PATH": model_path} if model_path else {})}
    with started(["app.py", "--port", str(port)], url + "config", env=env) as app:
        chat = Endpoint.find(url, "chat")
        crowd(chat, 1, 8)  # the model process has started, and is warm
        alone = [crowd(chat, 1, max_tokens) for _ in range(3)]
        one = {"tokens_per_s": statistics.median(run["tokens_per_s"] for run in alone)}
        before = _cpu_seconds(app.pid)
        many = crowd(chat, visitors, max_tokens, long_prompts)
        cpu = {name: round(_cpu_seconds(app.pid)[name] - before[name], 1) for name in before}
    return {"parallel": parallel, "one_visitor_tokens_per_s": one["tokens_per_s"], **many,
            "crowd_over_one": many["tokens_per_s"] / one["tokens_per_s"], "crowd_cpu_s": cpu}


def measure_model_alone(visitors: int, max_tokens: int, parallel: int, model_path: str | None = None) -> dict:
    """The crowd without the app: streamed chat completions straight to the model's process, started
    with the app's settings (`Settings`' defaults, as `python app.py` has them here)."""
    from llm import Settings
    from llm.backends.local import bundled_gguf, runtime_for_file

    runtime = runtime_for_file(model_path or bundled_gguf(), Settings().local_n_ctx, None, parallel)
    process = runtime.wait_ready()
    body = {"model": "local", "messages": [{"role": "user", "content": PROMPT}], "max_tokens": max_tokens,
            "temperature": 0.7, "stream": True}

    async def one(client: httpx.AsyncClient, started: float) -> tuple[int, float | None]:
        tokens, first = 0, None
        async with client.stream("POST", runtime.base_url + "/chat/completions", json=body) as response:
            async for line in response.aiter_lines():
                delta = json.loads(line[6:])["choices"] if line.startswith("data: {") else None
                if delta and delta[0]["delta"].get("content"):
                    tokens, first = tokens + 1, first or time.monotonic() - started
        return tokens, first

    async def crowd_of(n: int) -> dict:
        headers = {"Authorization": f"Bearer {runtime.api_key}"}
        async with httpx.AsyncClient(headers=headers, timeout=600, limits=httpx.Limits(max_connections=None)) as client:
            started = time.monotonic()
            got = await asyncio.gather(*(one(client, started) for _ in range(n)))
        wall = time.monotonic() - started
        return {"tokens_per_s": sum(tokens for tokens, _ in got) / wall, "first_token_last_s": max(f or wall for _, f in got)}

    asyncio.run(crowd_of(1))  # warm
    one_visitor = statistics.median(asyncio.run(crowd_of(1))["tokens_per_s"] for _ in range(3))
    before = cpu_seconds(process.pid)
    many = asyncio.run(crowd_of(visitors))
    return {"parallel": parallel, "model_alone": True, "one_visitor_tokens_per_s": one_visitor, "visitors": visitors,
            **many, "crowd_over_one": many["tokens_per_s"] / one_visitor,
            "model_cpu_s": round(cpu_seconds(process.pid) - before, 1)}


def _cpu_seconds(pid: int) -> dict[str, float]:
    """CPU seconds so far of the app's process, of its children (the model's process), and of this one
    (the visitors: on a Space their browsers run elsewhere, here they take the same two cores)."""
    children = [child for task in Path(f"/proc/{pid}/task").iterdir() for child in (task / "children").read_text().split()]
    return {"app": cpu_seconds(pid), "model": sum(cpu_seconds(int(child)) for child in children),
            "visitors": cpu_seconds(os.getpid())}


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
    parser.add_argument("--model-path", help="another GGUF (LOCAL_MODEL_PATH)")
    parser.add_argument("--model-alone", action="store_true", help="the model's process only, without the app")
    args = parser.parse_args()
    for parallel in args.parallel or [8, 1]:
        if args.model_alone:
            print(json.dumps(measure_model_alone(args.visitors, args.max_tokens, parallel, args.model_path)), flush=True)
        else:
            print(json.dumps(measure(args.visitors, args.max_tokens, parallel, args.long_prompts, args.model_path)), flush=True)


if __name__ == "__main__":
    main()
