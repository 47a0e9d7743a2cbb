"""The one loop from a chunk stream to the page, and the one place Stop goes.

Every tab that streams (Chat, JSON, replay) checks its inputs, picks a chunk source (a model's
`astream`, a replayed chunk log) and a `PageView` (how that tab shows the answer so far), and calls
`stream_to_page`. Each chunk goes:

    source → `arecords` (the Accumulator: sum, record, phase) → `paced` (at most one batch per frame)
    → `view.streaming(acc)` and `DebugAnswer.streaming()` → one page update

An error becomes a sentence under the partial answer; Stop marks the answer stopped
(`answer_frame.stop_answer`), and the loop sends nothing more and closes the stream upstream.
Tabs do not call it themselves: the frame around it (`answer_frame`) does.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, AsyncIterator, Callable
from contextlib import aclosing
from typing import Any, Protocol

from langchain_core.messages import AIMessageChunk

from llm import Accumulator, Phase, readable_error
from llm.errors import error_detail
from llm.lessons.branching import Origin
from llm.stream.accumulator import arecords, record_shows_text
from llm.stream.pacing import UPDATES_PER_SECOND, paced

from .debug_outputs import DebugAnswer

log = logging.getLogger("app")

FRAME_SECONDS = 1 / 60  # chunks closer together than a screen refresh share one page update
# Characters of Markdown the page may re-render per second: a view that says how much each update
# redraws (`redraw_chars`) gets updates at most that often, so the browser's work per second stays
# flat however long the answer grows (measured in Chromium: benchmarks/browser.py).
PAGE_CHARS_PER_SECOND = 150_000


class PageView(Protocol):
    """How one tab shows an answer: a tuple of values for the tab's own outputs, at each step."""

    source: str  # the tab, as the Debug summary names it ("" for the chat)

    def streaming(self, acc: Accumulator) -> tuple[Any, ...]: ...

    async def complete(self, acc: Accumulator) -> tuple[Any, ...]: ...

    def failed(self, acc: Accumulator, error: str) -> tuple[Any, ...]: ...


async def stream_to_page(
    chunks: AsyncIterable[AIMessageChunk], view: PageView, *, notes: list[str] | None = None,
    secrets: tuple[str | None, ...] = (), origin: Origin | None = None, probabilities: bool = False,
    debug: bool = True, calls: list[DebugAnswer] | None = None, requested: float | None = None,
    updates_per_second: float = UPDATES_PER_SECOND, seen: Callable[[], bool] = lambda: True,
) -> AsyncIterator[tuple[Any, ...]]:
    """Yield page updates, `(*view's outputs, *Debug outputs)`, as `chunks` stream.

    `notes` go under the Debug summary's figures; `secrets` are taken out of any error text; `origin`
    (what asked for the answer) lets a branch ask again; `probabilities`: the chunks carry token
    probabilities though no origin asked (a replay). With `debug=False` the updates hold the view's
    outputs only (a branch, shown beside the answer the Debug tab keeps). `calls`: the earlier model
    calls of the same agent run, which this answer's Debug view joins. `requested`: when the visitor
    asked (`time.perf_counter()`); chunk times count from it, a wait in line included.
    `updates_per_second`: the page updates every answer streaming in this process shares (`paced`).
    `seen()`: whether the visitor's page shows the Debug tab now; it is redrawn only while it does.
    Closing this generator (Stop) closes `chunks`, and with it the request upstream.
    """
    acc = Accumulator(started=requested)
    answer = DebugAnswer(acc, view.source, notes, origin, probabilities, calls, seen) if debug else NoDebug()
    redraw = getattr(view, "redraw_chars", None)
    interval = (lambda: max(FRAME_SECONDS, redraw(acc) / PAGE_CHARS_PER_SECOND)) if redraw else FRAME_SECONDS
    try:
        async with aclosing(paced(arecords(chunks, acc), interval, updates_per_second, shows=record_shows_text)) as batches:
            async for _ in batches:
                if acc.phase is Phase.STOPPED:  # Stop was pressed: the page already shows every chunk
                    return
                yield *view.streaming(acc), *answer.streaming()
    except Exception as error:
        text = readable_error(error, *secrets)
        log.warning("%s stream failed: %s", view.source or "chat", error_detail(error, *secrets))
        acc.fail(text)
        if acc.phase is Phase.FAILED:
            yield *view.failed(acc, text), *answer.final()
        return
    finally:
        acc.stop()  # closed before its end (Stop, or the visitor left): a stream still running is stopped
    if acc.phase is Phase.COMPLETE:  # not if Stop came as the last chunks did
        yield *(await view.complete(acc)), *answer.final()


class NoDebug:
    """The Debug part of an update that has none (`stream_to_page(..., debug=False)`)."""

    def streaming(self) -> tuple[Any, ...]:
        return ()

    def final(self) -> tuple[Any, ...]:
        return ()
