"""The Debug outputs every answer writes to, and what one answer sends them as it streams.

`DebugOutputs` holds the components: the summary, chunk table and timeline of the Debug tab, the
latest answer's state, and the header's "Last answer from" line (through a State). `DebugAnswer`
is one answer's view for them, kept in that state: its `Accumulator` (with the answer's phase),
its `DebugReport`, and which tab it belongs to. What the page shows is made from that state, never
read back from it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import gradio as gr

from llm import Accumulator, Phase
from llm.inert import inert_code, inert_text
from llm.lessons.branching import Origin
from llm.stream.report import SHOWN_ROWS, TABLE_HEADERS, DebugReport, shown_model_name
from llm.stream.token_probs import TokenLogprob

from .debug_visibility import DebugVisibility
from .payloads import TIMELINE_GAP, TIMELINE_X, TIMELINE_Y, timeline_value

# While an answer streams, the table shows its latest STREAMING_ROWS chunks and the timeline about
# STREAMING_POINTS points over the whole answer so far (`DebugReport.points`: every long wait stays),
# redrawn at most every REDRAW_EVERY_MS; in between, the same drawn values go out again (Gradio then
# sends nothing for them; a gr.skip() would cost more, since Gradio rebuilds the component for it).
# Gradio still walks every value of every update for files, so each update costs time in proportion to
# what these hold: kept small, so an update's cost stays small and constant however long the answer
# gets (docs/benchmarks.md, "Against Gradio's own floor"). The final update has every chunk, up to
# SHOWN_ROWS of them.
REDRAW_EVERY_MS = 500
STREAMING_ROWS = 30
STREAMING_POINTS = 60
STREAMING = "● Streaming…"
DEBUG_TAB = "Debug"  # the tab's label
_ENDINGS = itertools.count(1)  # each answer's end is a new value of `DebugOutputs.ended`
WINDOW_NOTE = (f" (until the answer ends, the table shows its latest {STREAMING_ROWS} chunks, and the timeline the longest "
               "wait of each stretch of chunks)")
# One per TABLE_HEADERS: each header's longest word fits on a line at 960 px of table (1,100 px page).
TABLE_WIDTHS = ["4.5%", "9%", "5.5%", "14%", "10%", "13%", "7.5%", "9.5%", "7%", "12%", "8%"]


class DebugOutputs:
    """The components every answer writes to. They are made before any tab (the Chat and JSON tabs
    name them as outputs) and placed later: `render` in the Debug tab, `answered_by` in the header."""

    def __init__(self) -> None:
        self.summary = gr.Markdown("No answer yet.", render=False, elem_id="debug-summary")
        # Widths that fit all 11 columns in a 1,280 px page: left to itself, the table gave the id most
        # of the width, wrapped "ms since request" letter by letter, and pushed probability off-screen.
        self.table = gr.Dataframe(
            headers=TABLE_HEADERS, value=[], render=False, interactive=False, wrap=True, elem_id="debug-table",
            column_widths=TABLE_WIDTHS,
        )
        self.timeline = gr.ScatterPlot(
            x=TIMELINE_X, y=TIMELINE_Y, title="When each chunk arrived", render=False, elem_id="debug-timeline",
            tooltip=[TIMELINE_X, TIMELINE_Y, TIMELINE_GAP], height=260,
        )
        # The latest answer's DebugAnswer, held by reference: the answer keeps adding to the same
        # Accumulator, so the explorer, export and Stop see every chunk that came.
        self.latest = gr.State(None)
        # The header's "Last answer from" line. Answers write it to a State, not to the Markdown: a State
        # is no part of `/chat`'s outputs, and while the model is not yet known (servers name it in the
        # last chunk) a skipped State costs nothing, where a skipped component is rebuilt at every update.
        self.model_line = gr.State("")
        self.answered_by = gr.Markdown("", render=False, elem_id="answered-by")
        # Every token of the answer shaded by how unlikely it was (when the request asked for probabilities);
        # selecting one shows its alternatives. Not an output of the answers: an event of its own follows
        # an answer with probabilities (ui/token_probabilities.py), started when it is handed to this State
        # (None for an answer without: the view is cleared once, and no event runs for the next ones).
        # So `/chat` and the other tabs' outputs stay as they were, and cost nothing more without them.
        self.to_shade = gr.State(None)
        self.tokens = gr.HighlightedText(
            label="Token probabilities: the redder a token, the less likely the model thought it",
            show_legend=False, show_inline_category=False, combine_adjacent=False, render=False,
            elem_id="token-probabilities")

        # A new number each time an answer ends (completes, fails, or is stopped): what follows the latest
        # answer once it ends (the explorer) listens to its change, once per answer, never per update.
        self.ended = gr.State(0)
        self.pages = DebugVisibility()  # which pages have Debug open: only they see it redrawn as answers stream

    @property
    def outputs(self) -> list[gr.components.Component]:
        """What an answer function yields after its own outputs, in this order."""
        return [self.summary, self.table, self.timeline, self.latest, self.model_line, self.to_shade, self.ended]

    def show_model_line(self) -> None:
        """Copy the model line to the header when it changes: once per answer, not per update."""
        self.model_line.change(lambda line: line, self.model_line, self.answered_by, queue=False,
                               show_progress="hidden", api_visibility="undocumented")

    @property
    def marks(self) -> list[gr.components.Component]:
        """What Stop redraws: the summary, and the table and timeline with every chunk; and the end."""
        return [self.summary, self.table, self.timeline, self.ended]

    def unchanged(self) -> tuple[Any, ...]:
        """What an answer function yields for the Debug outputs when there is no answer to show."""
        return (gr.skip(),) * len(self.outputs)

    def render(self) -> None:
        self.summary.render()
        self.timeline.render()
        self.table.render()


class HandOver:
    """Gives a value to the session's `gr.State` with the first update only: the State then holds it
    by reference, so later updates send `gr.skip()` for it."""

    def __init__(self) -> None:
        self._done = False

    def __call__(self, value: Any) -> Any:
        if self._done:
            return gr.skip()
        self._done = True
        return value


class DebugAnswer:
    """One answer as the Debug outputs show it. `source` names the tab it came from ("" for the chat);
    `notes` are lines under the summary's figures, such as turns left out of the context. `calls`: the
    model calls of one agent run so far, which this answer joins (each keeps its own chunks and sum
    check; once it ends, the table and timeline show every call's chunks, each row labelled by call)."""

    def __init__(self, acc: Accumulator, source: str = "", notes: list[str] | None = None,
                 origin: Origin | None = None, probabilities: bool = False,
                 calls: list[DebugAnswer] | None = None, seen: Callable[[], bool] = lambda: True) -> None:
        self.acc = acc
        self.seen = seen  # whether the page shows Debug now (`DebugVisibility`): redrawn only then
        self.source = source
        self.calls = calls if calls is not None else [self]
        if calls is not None:
            calls.append(self)
        self.call = len(self.calls)  # this answer's number among its run's model calls
        self.origin = origin  # what asked for the answer, for a branch from one of its tokens
        self.report = DebugReport()
        self.report.notes = list(notes or [])
        self.report.asked_probabilities = bool(origin and origin.top_logprobs) or probabilities
        self._rows: tuple[list[list[Any]], dict[str, Any]] | None = None  # the latest rows and their timeline
        self._drawn_at = 0.0
        self._drawn: tuple[str, list[list[Any]], dict[str, Any]] | None = None  # the summary too, as last sent
        self._hand_over = HandOver()
        self._hand_over_to_shade = HandOver()
        self._named: str | None = None  # the model name this answer last set the header's line to

    def streaming(self) -> tuple[Any, ...]:
        """(summary, latest rows, their timeline, this answer the first time only, model line, this answer
        again if it has probabilities (else None), the first time only). Where Debug is not open, the
        first update's summary, rows and timeline go out again unchanged (Gradio then sends nothing)."""
        if self._drawn is None or self.seen():
            summary, rows, timeline = self.drawn()
        else:
            summary, rows, timeline = self._drawn
            self._drawn_at = float("-inf")  # drawn afresh as soon as Debug is open
        return (summary, rows, timeline, self._hand_over(self), self.model_line(),
                self._hand_over_to_shade(self.to_shade()), gr.skip())

    def drawn(self, fresh: bool = False) -> tuple[str, list[list[Any]], dict[str, Any]]:
        """The summary, and the latest rows and their timeline, redrawn if REDRAW_EVERY_MS went by
        since the last time (or `fresh`)."""
        self.report.update(self.acc.records)
        ms = self.report.stats.last_ms
        if self._rows is None or fresh or ms - self._drawn_at >= REDRAW_EVERY_MS:
            points = self.report.points(STREAMING_POINTS)
            self._rows, self._drawn_at = (self.report.latest(STREAMING_ROWS), timeline_value(points)), ms
        self._drawn = (self.report.summary(self.status()), *self._rows)
        return self._drawn

    def final(self) -> tuple[Any, ...]:
        """(summary with the sum check when complete, every row, the whole timeline, this answer, model line,
        this answer if it has probabilities, a new end)."""
        self.report.update(self.acc.records)
        complete = self.acc.phase is Phase.COMPLETE
        summary = self.report.summary(self.status(), self.acc.text if complete else None,
                                      self.acc.total if complete else None)
        if len(self.calls) > 1:
            summary += "\n\n" + self.calls_line()
            rows = [row for call in self.calls[: self.call] for row in call.labelled_rows()]
            points = [[number, *row[1:]] for number, row in enumerate(rows)]
            if len(rows) > SHOWN_ROWS:  # the first and last of every call's chunks; the export has them all
                rows, points = rows[: SHOWN_ROWS // 2] + rows[-(SHOWN_ROWS // 2):], points[: SHOWN_ROWS // 2] + points[-(SHOWN_ROWS // 2):]
        else:
            rows, points = self.report.shown()
        return (summary, rows, timeline_value(points), self,
                self.model_line(), self.to_shade(), next(_ENDINGS))

    def labelled_rows(self) -> list[list[Any]]:
        """This call's rows with "call.chunk" in the first column, and its times from the run's first request."""
        offset = (self.acc.started - self.calls[0].acc.started) * 1000
        return [[f"{self.call}.{row[0]}", round(row[1] + offset, 1), *row[2:]] for row in self.report.rows]

    def calls_line(self) -> str:
        """Each model call of the run so far: its chunks, and whether they add up to its message."""
        said = []
        for call in self.calls[: self.call]:
            checked = call.acc.phase is Phase.COMPLETE and call.acc.text == "".join(r.text for r in call.acc.records)
            ending = "✓ they add up to its message" if checked else call.acc.phase.value
            said.append(f"call {call.call}: {len(call.acc.records)} chunks, {ending}")
        return (f"**Model call {self.call} of the agent's run.** The table shows every call's chunks (numbered "
                f"call.chunk), from the first call's request: " + "; ".join(said) + ".")

    def to_shade(self) -> DebugAnswer | None:
        """This answer, for the token-probability view to follow, if it asked for probabilities."""
        return self if self.report.asked_probabilities else None

    def marks(self) -> tuple[Any, ...]:
        """`final()`'s values for `DebugOutputs.marks`, which Stop redraws."""
        summary, rows, timeline, *_, ended = self.final()
        return summary, rows, timeline, ended

    def status(self) -> str:
        """The summary's first line, from the answer's phase."""
        phase = self.acc.phase
        if phase is Phase.STREAMING:
            return STREAMING + (WINDOW_NOTE if len(self.report.rows) > STREAMING_ROWS else "")
        if phase is Phase.COMPLETE:
            ended = "✓ Complete" + (f" ({self.source})" if self.source else "")
        elif phase is Phase.STOPPED:
            ended = "■ Stopped by you"
        else:
            ended = f"✗ {inert_text(self.acc.error or 'Failed.')}"
        return ended + self.shown_note()

    def shown_note(self) -> str:
        """What the ended answer's table and timeline leave out, when it had more than SHOWN_ROWS chunks."""
        chunks = len(self.report.rows)
        if chunks <= SHOWN_ROWS:
            return ""
        return (f" (the table shows the first and the last {SHOWN_ROWS // 2:,} of {chunks:,} chunks, and the timeline "
                f"the longest wait of every {self.report.stretch()}; the explorer shows any chunk, the export has all)")

    def model_line(self) -> Any:
        """The header's line naming the model that answered (the server's word, so inert), when it is
        new to this answer. Each State set is a step of Gradio's postprocessing (and, before sessions stopped
        rebuilding configs, `serving.py`, a config rebuilt: 2% of the event loop at 10 users), so once."""
        name = self.report.stats.model_name
        if not name or name == self._named:
            return gr.skip()
        self._named = name
        return f"**Last answer from:** {inert_code(shown_model_name(name))}"


def shaded(tokens: list[TokenLogprob]) -> list[tuple[str, float]]:
    """The HighlightedText value: each token with 1 - its probability, which Gradio draws as a red of
    that strength (a certain token stays clear). The token's text is shown as text, never as markup."""
    return [(token.token, round(1 - token.probability, 3)) for token in tokens]
