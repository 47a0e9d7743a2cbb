"""Does the app's own work per chunk grow with the answer's length?

    python -m benchmarks.per_chunk [--chunks 20000]

Times what the chat function does for every chunk (add it to the running
AIMessageChunk sum, record it, add its Debug row, redo the summary) and for
every page update Gradio then sends (the Debug table's postprocess), early and
late in one long answer.
"""

from __future__ import annotations

import argparse
import time

import gradio as gr
from langchain_core.messages import AIMessageChunk

from llm import Accumulator
from llm.stream.report import TABLE_HEADERS, DebugReport


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=20_000)
    args = parser.parse_args()
    acc, report = Accumulator(), DebugReport()
    table = gr.Dataframe(headers=TABLE_HEADERS, value=[], interactive=False)
    window = args.chunks // 10
    ours: list[float] = []
    for i in range(args.chunks):
        chunk = AIMessageChunk(content=f" w{i}", id="run-1")
        started = time.perf_counter()
        acc.add(chunk)
        report.update(acc.records)
        report.summary("streaming")
        ours.append(time.perf_counter() - started)
    first, last = sum(ours[:window]) / window, sum(ours[-window:]) / window
    print(f"app work per chunk, first {window} chunks: {first * 1e6:6.1f} µs; last {window}: {last * 1e6:6.1f} µs")
    started = time.perf_counter()
    table.postprocess(report.rows)
    print(f"Gradio's Dataframe postprocess of all {args.chunks} rows (once per page update): "
          f"{(time.perf_counter() - started) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
