"""What the Tools tab's agent adds: a two-call answer through `create_agent` (as the tab runs it,
`AgentRun`), against the same two model calls made directly with the same tools.

    python -m benchmarks.agent [--rounds 10]

Both sides ask the scripted server (its own process, `--tool-calls`: two parallel tool calls in
pieces of 6, then an answer from the results), with the same model and tools: directly,
`model.bind_tools(tools).astream(...)`, the tools run, and a second `astream` with their results;
the agent, `AgentRun.call_chunks()` for each model call, its tools step in between. Time to first
token is the first chunk that carries text or a tool call's fragment.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from contextlib import aclosing

from langchain_core.messages import AIMessageChunk, HumanMessage, ToolMessage
from langchain_openai import ChatOpenAI

from benchmarks.figures import Figure
from benchmarks.processes import free_port, started
from llm.lessons.agent_run import AgentRun
from llm.lessons.tools import TOOLS, run_tool

QUESTION = "What is 12*7, and what is the capital of Kenya?"
# Both model calls stream at 50 tokens/s, the rate of the app's one-user case (benchmarks/measures.py): the
# tool calls' arguments, then the answer from their results (the scripted server's own, about 20 words).
# The agent's cost is a few milliseconds per step whatever the answer, so it is also reported in ms.
RATE = 50


def shows(chunk: AIMessageChunk) -> bool:
    return bool(chunk.text or chunk.tool_call_chunks)


async def direct(base: str) -> tuple[float, float]:
    """(time to first token, total) of the two model calls made directly."""
    model = ChatOpenAI(base_url=base, api_key="benchmark", model="fake", max_retries=0).bind_tools(list(TOOLS.values()))
    started_at, first = time.perf_counter(), None
    messages = [HumanMessage(QUESTION)]
    total = AIMessageChunk(content="")
    async for chunk in model.astream(messages):
        first = first or (time.perf_counter() if shows(chunk) else None)
        total += chunk
    results = [ToolMessage(run_tool(call)[1], tool_call_id=call["id"]) for call in total.tool_calls]
    async for _ in model.astream([*messages, total, *results]):
        pass
    return first - started_at, time.perf_counter() - started_at


async def agent(base: str) -> tuple[float, float]:
    """(time to first token, total) of the same answer through the Tools tab's agent."""
    model = ChatOpenAI(base_url=base, api_key="benchmark", model="fake", max_retries=0)
    started_at, first = time.perf_counter(), None
    run = AgentRun(model, list(TOOLS.values()), [HumanMessage(QUESTION)], calls=4)
    more = True
    while more:
        async with aclosing(run.call_chunks()) as chunks:
            async for chunk in chunks:
                first = first or (time.perf_counter() if shows(chunk) else None)
        more = False
        async with aclosing(run.between_calls()) as steps:
            async for next_call in steps:
                more = more or next_call
    assert run.calls == 2, f"the agent made {run.calls} model calls, not 2"
    return first - started_at, time.perf_counter() - started_at


def figures(rounds: int) -> list[Figure]:
    port = free_port()
    base = f"http://127.0.0.1:{port}/v1"
    args = ["-m", "tests.openai_server", "--port", str(port), "--rate", str(RATE), "--fixed-schedule", "--tool-calls"]
    loop = asyncio.new_event_loop()
    runs: dict[str, list[tuple[float, float]]] = {"direct": [], "agent": []}
    with started(args, base + "/models"):
        for counted in [False] + [True] * rounds:  # the first round warms up
            for side, measure in (("direct", direct), ("agent", agent)):
                result = loop.run_until_complete(measure(base))
                if counted:
                    runs[side].append(result)
    loop.close()
    ttft = {side: statistics.median(r[0] for r in found) for side, found in runs.items()}
    total = {side: statistics.median(r[1] for r in found) for side, found in runs.items()}
    case = f"agent, a two-call answer (two tool calls, then the answer from their results, at {RATE:.0f} tokens/s)"
    return [
        Figure(f"{case}: total", f"{total['agent'] / total['direct']:.3f}× direct ({total['agent']:.3f} s vs "
               f"{total['direct']:.3f} s: +{(total['agent'] - total['direct']) * 1000:.0f} ms)", "≤ 1.05× direct",
               total["agent"] <= 1.05 * total["direct"]),
        Figure(f"{case}: time to first token", f"{ttft['agent'] * 1000:.0f} ms (direct {ttft['direct'] * 1000:.0f} ms)",
               "≤ direct + 20 ms", ttft["agent"] <= ttft["direct"] + 0.020),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    for figure in figures(parser.parse_args().rounds):
        print(figure.line())


if __name__ == "__main__":
    main()
