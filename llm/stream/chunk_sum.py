"""Chunks add up: the sum of any range of an answer's chunks, computed with `+`.

The how-to's closing idea, `r[1][0] + r[1][1] + r[1][2] + r[1][3]` is the
response so far, as a plain-data view the Debug tab's explorer shows.

    >>> from langchain_core.messages import AIMessageChunk
    >>> r = [AIMessageChunk(content=text, id="run-1") for text in ["Elon", " Musk", " is"]]
    >>> total, line = chunk_sum(r, 0, 2)
    >>> total.content, line
    ('Elon Musk', 'r[0] + r[1]')
    >>> view = explore(r, 0, 1)
    >>> print(view.printed)
    content='Elon Musk' additional_kwargs={} response_metadata={} id='run-1' tool_calls=[] invalid_tool_calls=[] tool_call_chunks=[]
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Sequence
from dataclasses import dataclass

from langchain_core.messages import AIMessageChunk

_SPELLED_OUT = 4  # up to this many chunks the line spells out every `r[i]`


def chunk_sum(chunks: Sequence[AIMessageChunk], start: int, end: int) -> tuple[AIMessageChunk, str]:
    """`chunks[start] + ... + chunks[end - 1]` with `+`, and the expression that computes it."""
    if not 0 <= start < end <= len(chunks):
        raise ValueError(f"choose a range inside 0..{len(chunks)}, not {start}..{end}")
    total = functools.reduce(operator.add, chunks[start:end])
    if end - start <= _SPELLED_OUT:
        line = " + ".join(f"r[{i}]" for i in range(start, end))
    else:
        line = f"functools.reduce(operator.add, r[{start}:{end}])  # r[{start}] + r[{start + 1}] + … + r[{end - 1}]"
    return total, line


@dataclass(frozen=True)
class ChunkSum:
    """What the explorer shows for chunks `first`..`last` (both included) of an answer."""

    first: int
    last: int
    code: str  # the Python that computes it, over `r`, the answer's chunks
    printed: str  # what `print(result)` shows: the message as LangChain prints it
    text: str  # `result.text`
    meaning: str  # what this sum is: the answer so far, the whole answer, or a slice of it


def explore(chunks: Sequence[AIMessageChunk], first: int, last: int, final: AIMessageChunk | None = None) -> ChunkSum:
    """The sum of chunks `first`..`last` (clamped to the answer, in either order).
    `final`: the message the stream accumulated, to check the whole range against."""
    if not chunks:
        raise ValueError("there are no chunks to add")
    first, last = sorted(min(max(int(i), 0), len(chunks) - 1) for i in (first, last))
    total, line = chunk_sum(chunks, first, last + 1)
    imports = "import functools, operator\n" if line.startswith("functools") else ""
    return ChunkSum(
        first=first,
        last=last,
        code=f"{imports}result = {line}\nprint(result)",
        printed=str(total),
        text=total.text,
        meaning=_meaning(first, last, len(chunks), total, final),
    )


def _meaning(first: int, last: int, count: int, total: AIMessageChunk, final: AIMessageChunk | None) -> str:
    if first == 0 and last == count - 1:
        if final is None:  # no final message yet: the answer is still streaming
            return f"The {count} chunks so far: the answer is still streaming (this follows it when it ends)."
        same = "✓ equal to" if total == final else "✗ different from"
        return f"All {count} chunks: the whole answer, {same} the message the stream accumulated."
    if first == 0:
        return f"Chunks 0 to {last}: the running sum, the answer as it stood after chunk {last} of {count}."
    return f"Chunks {first} to {last} of {count}: a slice, the text those chunks carried."


def tool_call_check(records: Sequence, final: AIMessageChunk | None) -> str | None:
    """The sum check for tool calls: the chunks' tool-call fragments, added with `+`, against the final
    message's `tool_calls` and `invalid_tool_calls`. None when no chunk carried a tool call.

        >>> from llm.stream.records import ChunkRecord
        >>> parts = [{"index": 0, "id": "c1", "name": "calculator", "args": '{"expression": '}, {"index": 0, "args": '"12*7"}'}]
        >>> records = [ChunkRecord(i, 0.0, 0.0, "", tool_call_chunks=(p,)) for i, p in enumerate(parts)]
        >>> final = AIMessageChunk(content="", tool_call_chunks=[parts[0]]) + AIMessageChunk(
        ...     content="", tool_call_chunks=[{"index": 0, "id": None, "name": None, "args": '"12*7"}'}])
        >>> print(tool_call_check(records, final))
        Tool-call check ✓ the 2 fragments add up to the final message's 1 tool call.
    """
    carrying = [AIMessageChunk(content="", tool_call_chunks=[dict(p) for p in r.tool_call_chunks])
                for r in records if r.tool_call_chunks]
    if not carrying:
        return None
    fragments = sum(len(chunk.tool_call_chunks) for chunk in carrying)
    added = functools.reduce(operator.add, carrying)  # `+` merges the fragments by index
    final_calls = (final.tool_calls, final.invalid_tool_calls) if final is not None else ([], [])
    count = len(final_calls[0]) + len(final_calls[1])
    if (added.tool_calls, added.invalid_tool_calls) == final_calls:
        return (f"Tool-call check ✓ the {fragments} fragments add up to the final message's {count} "
                f"tool call{'s' if count != 1 else ''}.")
    return f"Tool-call check ✗ the {fragments} fragments do not add up to the final message's {count} tool calls."
