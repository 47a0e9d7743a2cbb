"""The Debug view of one answer: a row per chunk, a summary, timeline points.

Plain data, no UI library: the page renders it, tests read it.

    >>> from llm.stream.accumulator import Accumulator
    >>> from langchain_core.messages import AIMessageChunk
    >>> acc = Accumulator()
    >>> _ = acc.add(AIMessageChunk(content="Hi ")); _ = acc.add(AIMessageChunk(content="there\\n"))
    >>> report = DebugReport(); report.update(acc.records)
    >>> [row[3] for row in report.rows]
    ['"Hi "', '"there\\\\n"']
"""

from __future__ import annotations

import json
import re
from typing import Any

from langchain_core.messages import AIMessageChunk

from llm.inert import cut, inert_code
from llm.stream.chunk_sum import tool_call_check
from llm.stream.records import ChunkRecord, StreamStats
from llm.stream.token_probs import RunningFigures, TokenLogprob, bytes_check

TABLE_HEADERS = ["#", "ms since request", "Δ ms", "text", "id", "metadata", "usage", "position", "tool calls",
                 "probability", "carried"]


def visible_text(text: str) -> str:
    """The chunk text as a JSON string literal: quotes show leading and trailing
    spaces, escapes show newlines and tabs, and `json.loads` gives the exact text back."""
    return json.dumps(text, ensure_ascii=False)


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str) if value else ""


IGNORED = "ignored: not token probabilities"
CELL_CHARS = 1_000  # of one cell of the chunk table; the export has every chunk whole
SHOWN_ROWS = 2_000  # of the chunk table and the timeline once an answer ends (a page's share of a long answer)
SAME = "same"  # as the row above (every chunk of an answer carries its id); "〃" has no glyph in many fonts


def table_row(record: ChunkRecord, previous: ChunkRecord | None = None) -> list[Any]:
    """One chunk's row. Its id and metadata are shown where they first appear or change, and a ditto
    mark below them, so the table fits a 1,280 px page and the one change in 200 rows stands out.

        >>> first, second = ChunkRecord(0, 1.0, 1.0, "Hi", id="run-1"), ChunkRecord(1, 2.0, 1.0, "!", id="run-1")
        >>> table_row(first)[3:5], table_row(second, first)[3:5]
        (['"Hi"', 'run-1'], ['"!"', 'same'])
    """
    metadata = cut(_compact(record.response_metadata), CELL_CHARS)
    return [
        record.index,
        round(record.ms_since_start, 1),
        round(record.ms_since_previous, 1),
        cut(visible_text(record.text or record.thinking), CELL_CHARS),  # a reasoning field's chunk has no content
        SAME if previous is not None and record.id and record.id == previous.id else cut(record.id or "", CELL_CHARS),
        SAME if previous is not None and metadata and metadata == cut(_compact(previous.response_metadata), CELL_CHARS)
        else metadata,
        cut(_compact(record.usage_metadata), CELL_CHARS),
        record.chunk_position or "",
        cut(tool_call_text(record), CELL_CHARS),
        probability_text(record),
        record.kind,
    ]


def probability_text(record: ChunkRecord) -> str:
    """The probability of each token the chunk carried (`exp(logprob)`, 4 significant digits), joined
    by " · "; "" when the server sent none.

        >>> from llm.stream.token_probs import TokenLogprob
        >>> probability_text(ChunkRecord(0, 0, 0, "Hi", logprobs=(TokenLogprob("Hi", -0.5, b"Hi"),)))
        '0.6065'
    """
    if record.logprobs_ignored:
        return IGNORED
    return " · ".join(f"{token.probability:.4g}" for token in record.logprobs)


def tool_call_text(record: ChunkRecord) -> str:
    """The chunk's tool-call fragments: `#index name (id)` where they begin, then each piece of the
    arguments as a JSON string literal (the pieces of one index join into the call's arguments).

        >>> print(tool_call_text(ChunkRecord(0, 0, 0, "", tool_call_chunks=({"index": 1, "id": "c2",
        ...       "name": "country_facts", "args": '{"na'},))))
        #1 country_facts (c2) "{\\"na"
    """
    parts = []
    for part in record.tool_call_chunks:
        head = " ".join(str(x) for x in (part.get("name"), f"({part['id']})" if part.get("id") else None) if x)
        parts.append(" ".join(x for x in (f"#{part.get('index')}", head, visible_text(part.get("args") or "")) if x))
    return "; ".join(parts)


class DebugReport:
    """Grows with each new record; work per record is constant."""

    def __init__(self) -> None:
        self.rows: list[list[Any]] = []
        self.stats = StreamStats()
        self.notes: list[str] = []  # lines shown under the figures, such as turns left out of the context
        self.asked_probabilities = False  # whether the request asked for token probabilities
        self.tokens: list[TokenLogprob] = []  # every token with its probability, in answer order
        self.token_chunks: list[int] = []  # the chunk that carried each of them
        self.probabilities = RunningFigures()
        self._records: list[ChunkRecord] = []
        self.ignored_probabilities = 0  # chunks whose `logprobs` were not token probabilities

    def update(self, records: list[ChunkRecord]) -> None:
        """Take in the records not seen yet (the list only ever grows)."""
        for record in records[len(self._records) :]:
            self._records.append(record)
            self.ignored_probabilities += record.logprobs_ignored
            self.rows.append(table_row(record, self._records[-2] if len(self._records) > 1 else None))
            self.stats.add(record)
            for token in record.logprobs:
                self.tokens.append(token)
                self.token_chunks.append(record.index)
                self.probabilities.add(token)

    def latest(self, n: int) -> list[list[Any]]:
        """The newest `n` rows, as a copy that later chunks leave alone."""
        return self.rows[-n:]

    def shown(self, n: int = SHOWN_ROWS) -> tuple[list[list[Any]], list[list[Any]]]:
        """The rows and timeline a page gets once the answer ends, about `n` of each however many chunks
        came: every row up to `n`; past it, the first and the last `n // 2` rows, and a timeline point for
        each stretch of chunks, the one after its longest wait (so every stall still shows). The explorer
        shows any chunk, and the export has them all.

            >>> report = DebugReport(); report.rows = [[i, i * 10.0, 500.0 if i == 7 else 10.0] for i in range(40)]
            >>> rows, points = report.shown(10)
            >>> [row[0] for row in rows], [point[0] for point in points]
            ([0, 1, 2, 3, 4, 35, 36, 37, 38, 39], [0, 7, 8, 12, 16, 20, 24, 28, 32, 36])
        """
        if len(self.rows) <= n:
            return self.rows, self.rows
        return self.rows[: n // 2] + self.rows[-(n // 2) :], self.points(n)

    def points(self, n: int = SHOWN_ROWS) -> list[list[Any]]:
        """About `n` timeline points over every chunk so far: each row up to `n`; past it, for each
        stretch of chunks, the one after its longest wait (`shown`'s timeline)."""
        if len(self.rows) <= n:
            return self.rows
        every = self.stretch(n)
        return [max(self.rows[i : i + every], key=lambda row: row[2]) for i in range(0, len(self.rows), every)]

    def stretch(self, n: int = SHOWN_ROWS) -> int:
        """How many chunks one timeline point stands for in `points(n)` (and so in `shown(n)`)."""
        return -(-len(self.rows) // n)

    def summary(self, status: str, final_text: str | None = None, final: AIMessageChunk | None = None) -> str:
        """Markdown: status line, the figures, and (with `final_text`) the sum check; with the `final`
        message too, the check of its tool calls."""
        s = self.stats
        lines = [
            f"**{status}**",
            "",
            "| chunks | time to first token | total time | tokens/s | usage |",
            "|---|---|---|---|---|",
            f"| {s.chunks} | {_ms(s.first_token_ms)} | {_ms(s.last_ms if s.chunks else None)} "
            f"| {_rate(s.tokens_per_second)} | {_usage(s.usage)} |",
        ]
        if s.thinking_chunks:
            lines += [
                "",
                "| first thinking token | first answer token | thinking tokens | answer tokens |",
                "|---|---|---|---|",
                f"| {_ms(s.first_thinking_ms)} | {_ms(s.first_token_ms)} | {s.thinking_tokens} | {s.output_tokens} |",
            ]
        if s.model_name:  # the server's word, so shown inert (the page's header line reads it from here)
            lines += ["", f"Answered by {inert_code(shown_model_name(s.model_name))}."]
        lines += [line for note in self.notes for line in ("", note)]
        lines += self.probability_lines()
        if final_text is not None:
            lines += ["", self.sum_check(final_text)]
            if self.tokens:
                lines += ["", bytes_check(self.tokens, final_text, s.output_tokens if s.usage else None)]
            if (calls := tool_call_check(self._records, final)) is not None:
                lines += ["", calls]
        return "\n".join(lines)

    def probability_lines(self) -> list[str]:
        """The token-probability figures (mean log-probability, perplexity, least likely tokens), or
        the sentence for a server that sent none when asked."""
        found = self.probabilities.figures()
        ignored = ["", f"Token probabilities of {self.ignored_probabilities} chunks were ignored: they were not "
                       f"token probabilities in OpenAI's shape (marked in the table)."] if self.ignored_probabilities else []
        if found is None:
            if ignored:
                return ignored
            if self.asked_probabilities and self.stats.text_chunks:
                return ["", "Token probabilities: the server sent none (it may not support `logprobs`); "
                            "the answer itself is not affected."]
            return []
        least = ", ".join(f"{inert_code(visible_text(t.token))} {t.probability:.3g} (token {i})"
                          for i, t in found.least_likely)
        return ["", "| tokens with probabilities | mean log-probability | perplexity | least likely |",
                "|---|---|---|---|",
                f"| {found.tokens} | {found.mean_logprob:.3f} | {found.perplexity:.3f} | {least} |", *ignored]

    def sum_check(self, final_text: str) -> str:
        joined = "".join(r.text for r in self._records)
        if joined == final_text:
            return f"Sum check ✓ the {len(self._records)} chunks add up to the final message ({len(final_text)} characters)."
        return (
            f"Sum check ✗ the chunks join to {len(joined)} characters but the final message has "
            f"{len(final_text)}."
        )


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f} ms"


def _rate(value: float | None) -> str:
    return "–" if value is None else f"{value:,.1f}"


def _usage(usage: dict[str, Any] | None) -> str:
    if not usage:
        return "not reported"
    return (
        f"in {usage.get('input_tokens', '?')} · out {usage.get('output_tokens', '?')} "
        f"· total {usage.get('total_tokens', '?')}"
    )


def shown_model_name(name: str) -> str:
    """A model's name as the page shows it: a GGUF's file name, not the server's path to it
    (llama-cpp-python's server names its model by the path it was given).

    >>> shown_model_name("/srv/models/SmolLM2-135M-Instruct.Q4_1.gguf"), shown_model_name("Qwen/Qwen2.5-1.5B")
    ('SmolLM2-135M-Instruct.Q4_1.gguf', 'Qwen/Qwen2.5-1.5B')
    """
    if name.startswith(("/", "~", "\\")) or name.lower().endswith(".gguf") or re.match(r"^[A-Za-z]:[\\/]", name):
        return re.split(r"[\\/]", name)[-1] or name
    return name
