"""Partial JSON while it streams: cost per chunk early vs late, and honesty, for each candidate.

    python -m benchmarks.partial_json [--chunks 20000] [--sample 200]

One JSON answer (an array of records) cut into 3-character chunks. For each chunk
a parser must produce the object so far. Candidates:

- `PartialJSON` (this app): ijson's push parser plus the open string's prefix.
- jiter, `from_json(text, partial_mode="trailing-strings")` (ships with openai):
  re-parses the accumulated text at every chunk.
- langchain-core, `parse_partial_json` (what `JsonOutputParser` uses): repairs and
  re-parses the accumulated text at every chunk.
- ijson alone: incremental, but a string appears only once it is complete.

Re-parsing candidates are stateless, so they are timed on a sample of chunks in
each window; `PartialJSON` and ijson really run through all chunks. Honesty is
counted on the test document in 3-character pieces: how many states show a value
that is neither its final value nor a prefix of its final string.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import ijson
import jiter
from langchain_core.utils.json import parse_partial_json

from llm.lessons.partial_json import PartialJSON
from tests.json_documents import DOCUMENT, is_honest, pieces_of


def records_document(chars: int) -> str:
    """An array of country-like records, about `chars` characters of JSON."""
    items, size, i = [], 2, 0
    while size < chars:
        item = json.dumps({"id": i, "name": f"Country {i} «ü»", "population": 1_000_003 * i, "area": i * 1.25,
                           "tags": ["a", "b\"c"], "ok": i % 2 == 0, "note": None}, ensure_ascii=False)
        items.append(item)
        size += len(item) + 2
        i += 1
    return "[" + ", ".join(items) + "]"


def reparse_cost(parse: Callable[[str], object], text: str, ends: list[int]) -> list[float]:
    """Seconds to parse the text so far at each chunk end in `ends` (the re-parsing approach)."""
    costs = []
    for end in ends:
        started = time.perf_counter()
        parse(text[:end])
        costs.append(time.perf_counter() - started)
    return costs


def incremental_cost(make: Callable[[], Callable[[str], object]], pieces: list[str]) -> list[float]:
    feed, costs = make(), []
    for piece in pieces:
        started = time.perf_counter()
        feed(piece)
        costs.append(time.perf_counter() - started)
    return costs


def ours() -> Callable[[str], object]:
    parser = PartialJSON()
    return lambda piece: (parser.feed(piece), parser.value)


def ijson_alone() -> Callable[[str], object]:
    builder = ijson.ObjectBuilder()

    class Target:
        def send(self, event):
            builder.event(*event)

    coro = ijson.basic_parse_coro(Target(), use_float=True)
    return lambda piece: coro.send(piece.encode())


def jiter_parse(text: str) -> object:
    return jiter.from_json(text.encode(), partial_mode="trailing-strings")


def dishonest_states(parse_prefix: Callable[[str], object]) -> int:
    final, text, bad = json.loads(DOCUMENT), "", 0
    for piece in pieces_of(DOCUMENT, 3):
        text += piece
        try:
            state = parse_prefix(text)
        except Exception:
            continue
        bad += state is not None and not is_honest(state, final)
    return bad


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=20_000)
    parser.add_argument("--sample", type=int, default=200, help="chunks timed per window for re-parsers")
    args = parser.parse_args()
    text = records_document(args.chunks * 3)[: args.chunks * 3]
    pieces = pieces_of(text, 3)
    window = len(pieces) // 10
    ends = [3 * (i + 1) for i in range(len(pieces))]
    early, late = ends[:window], ends[-window:]
    step = max(1, window // args.sample)
    print(f"{len(pieces)} chunks of 3 characters, {len(text):,} characters; windows: first and last {window}")
    print(f"{'candidate':<40} {'early µs':>9} {'late µs':>9} {'late/early':>10} {'dishonest states':>17}")

    def row(name: str, first: list[float], last: list[float], bad: int | str) -> None:
        early, late = statistics.median(first) * 1e6, statistics.median(last) * 1e6
        print(f"{name:<40} {early:9.1f} {late:9.1f} {late / early:9.2f}x {bad!s:>17}")

    costs = incremental_cost(ours, pieces)
    row("PartialJSON (ijson + open string)", costs[:window], costs[-window:], _ours_dishonest())
    costs = incremental_cost(ijson_alone, pieces)
    row("ijson alone (no growing strings)", costs[:window], costs[-window:], "0 (strings late)")
    row("jiter partial_mode, re-parse", reparse_cost(jiter_parse, text, early[::step]),
        reparse_cost(jiter_parse, text, late[::step]), dishonest_states(jiter_parse))
    row("langchain parse_partial_json, re-parse", reparse_cost(parse_partial_json, text, early[::step]),
        reparse_cost(parse_partial_json, text, late[::step]), dishonest_states(parse_partial_json))
    page_update_cost(pieces)


def page_update_cost(pieces: list[str]) -> None:
    """What grows is per page update, not per chunk: the field table and Gradio's copy of the object."""
    import gradio as gr

    from llm.lessons.json_answer import FIELD_HEADERS, JSONAnswer
    from llm.stream.records import ChunkRecord

    answer = JSONAnswer()
    answer.update([ChunkRecord(index=i, ms_since_start=i, ms_since_previous=1, text=p) for i, p in enumerate(pieces)])
    started = time.perf_counter()
    rows = answer.rows()
    rows_ms = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    gr.JSON().postprocess(answer.value)
    gr.Dataframe(headers=FIELD_HEADERS).postprocess(rows)
    gradio_ms = (time.perf_counter() - started) * 1000
    print(f"per page update at the end ({len(rows):,} fields): field rows {rows_ms:.1f} ms, "
          f"Gradio's postprocess of the object and the table {gradio_ms:.1f} ms")


def _ours_dishonest() -> int:
    final, parser, bad = json.loads(DOCUMENT), PartialJSON(), 0
    for piece in pieces_of(DOCUMENT, 3):
        parser.feed(piece)
        bad += parser.value is not None and not is_honest(parser.value, final)
    return bad


if __name__ == "__main__":
    main()
