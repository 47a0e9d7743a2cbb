"""The benchmark: what the app adds on top of the model, from one user to a hundred.

    python -m benchmarks.run                 # about 6 minutes on 2 cores; prints a table
    python -m benchmarks.run --smoke         # tiny sizes, a few seconds: checks it still runs

Everything talks to the scripted OpenAI-compatible server (tests/openai_server.py) in its
own process, at fixed rates, and is reported as ratios to a floor measured in the same run:
the raw model (`ChatOpenAI.astream` directly), the LangChain floor and the Gradio floor
(benchmarks/floors.py). Users are driven by benchmarks/load.py (one asyncio process over
Gradio's queue API); its CPU time is reported beside the app's. Results go to the JSON file
named by --out, and the table to stdout.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from dataclasses import asdict
from importlib.metadata import version
from pathlib import Path
from typing import Any

from benchmarks import agent, browser, crowd, measures
from benchmarks.figures import Figure, table

# Rounds of each users count. A round of 10 users lasts 2 s and its first token's median is of 10 answers,
# so 2 rounds left that figure to chance (1.01-2.45x the Gradio floor over the last six runs); 8 cost
# under a minute more. At 50, the floor's own first token took 0.55 s in one run and 1.02 s in the next.
FULL = {"rounds": 5, "users": [10, 50, 100], "user_rounds": {10: 8, 50: 4, 100: 2}, "long": [1_000, 10_000, 20_000],
        "chats": (10, 100, 200), "json_chunks": 20_000, "local_tokens": 128, "local_rounds": 5,
        "browser": [1_000, 5_000, 20_000], "browser_fast": [20_000], "thinking": 10_000, "agent_rounds": 10, "crowd": 40, "crowd_tokens": 64}
BROWSER_RATE = 1_000  # tokens/s of the browser cases: a fast server, or a reasoning model's long thinking
# The parts of a run, each from the run's sizes (FULL or SMOKE) and whether it is a smoke run.
STEPS: dict[str, Callable[[dict[str, Any], bool], list[Figure]]] = {
    "one-user": lambda size, smoke: measures.one_user(size["rounds"], smoke=smoke),
    "users": lambda size, _: measures.many_users(size["users"], size["user_rounds"]),
    "max-rate": lambda size, _: measures.max_rate(size["long"][-1]),
    "cpu-per-token": lambda size, _: measures.cpu_per_token(size["long"]),
    "memory": lambda size, _: measures.memory(*size["chats"]),
    "json": lambda size, _: measures.json_parse(size["json_chunks"]),
    "browser": lambda size, _: browser.figures(size["browser"], BROWSER_RATE, size["thinking"], size["rounds"] // 2 + 1,
                                                fast=size["browser_fast"]),
    "local-model": lambda size, _: measures.local_model(size["local_tokens"], size["local_rounds"]),
    "agent": lambda size, _: agent.figures(size["agent_rounds"]),
    "crowd": lambda size, _: crowd.figures(size["crowd"], size["crowd_tokens"]),
}
SMOKE = {"rounds": 1, "users": [3], "user_rounds": 1, "long": [200, 400], "chats": (2, 3, 4),
         "json_chunks": 600, "local_tokens": 8, "local_rounds": 1, "browser": [300], "browser_fast": [300], "thinking": 300,
         "agent_rounds": 1, "crowd": 3, "crowd_tokens": 8}


def machine() -> dict[str, str]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    import os

    return {"cpu": cpu, "cores": str(os.cpu_count()), "python": platform.python_version(),
            **{name: version(name) for name in ["gradio", "langchain-core", "langchain-openai", "llama_cpp_python"]}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: check that every part still runs")
    parser.add_argument("--out", default="benchmark-results.json", help="where the JSON results go")
    parser.add_argument("--skip-local", action="store_true", help="leave out the bundled model (slow to load)")
    parser.add_argument("--only", choices=STEPS, action="append", help="run only this part (may be repeated)")
    args = parser.parse_args()
    size = SMOKE if args.smoke else FULL
    started = time.monotonic()
    figures: list[Figure] = []
    for name, step in STEPS.items():
        if (args.only and name not in args.only) or (args.skip_local and name == "local-model"):
            continue
        for figure in step(size, args.smoke):
            figures.append(figure)
            print(figure.line(), flush=True)
    measures.LOOP.run_until_complete(measures.LOOP.shutdown_asyncgens())
    measures.LOOP.close()
    seconds = time.monotonic() - started
    print()
    print(table(figures))
    print(f"\n{sum(f.ok is True for f in figures)} of {sum(f.ok is not None for f in figures)} goals met, "
          f"in {seconds / 60:.1f} min on {machine()['cpu']} ({machine()['cores']} cores)")
    Path(args.out).write_text(json.dumps({"machine": machine(), "seconds": round(seconds, 1), "smoke": args.smoke,
                                          "figures": [asdict(f) for f in figures]}, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
