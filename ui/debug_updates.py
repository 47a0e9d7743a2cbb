"""What an answer function (chat, JSON or replay) yields for the Debug tab as it streams."""

from __future__ import annotations

from typing import Any

import gradio as gr

from llm import Accumulator
from llm.report import DebugReport

# While an answer streams, the table and timeline show its latest STREAMING_ROWS chunks, redrawn at
# most every REDRAW_EVERY_MS; in between, the same drawn values go out again (Gradio then sends nothing
# for them; a gr.skip() would cost more, since Gradio rebuilds the component for it). Each update's cost
# stays constant however long the answer gets. The final update has every chunk.
REDRAW_EVERY_MS = 500
STREAMING_ROWS = 200
STREAMING, COMPLETE, STOPPED = "● Streaming…", "✓ Complete", "■ Stopped by you"
WINDOW_NOTE = f" (the table shows the latest {STREAMING_ROWS} chunks until the answer ends)"


class DebugUpdates:
    """The Debug outputs for one answer as it streams: (summary, rows, timeline, accumulator).
    The accumulator goes out once (then skip, which costs nothing for a State): the session's
    state holds it by reference and sees every chunk added later."""

    def __init__(self, report: DebugReport, acc: Accumulator) -> None:
        self.report = report
        self.acc = acc
        self._drawn: tuple[list[list[Any]], dict[str, Any]] | None = None
        self._drawn_at = 0.0
        self._handed_over = False

    def streaming(self) -> tuple[str, list[list[Any]], dict[str, Any], Any]:
        ms = self.report.stats.last_ms
        if self._drawn is None or ms - self._drawn_at >= REDRAW_EVERY_MS:
            self._drawn, self._drawn_at = self.report.latest(STREAMING_ROWS), ms
        latest = gr.skip()
        if not self._handed_over:
            latest, self._handed_over = self.acc, True
        status = STREAMING
        if len(self.report.rows) > STREAMING_ROWS:
            status += WINDOW_NOTE
        return self.report.summary(status), *self._drawn, latest

    def final(self, status: str, final_text: str | None = None) -> tuple[str, list[list[Any]], Any, Accumulator]:
        return self.report.summary(status, final_text), self.report.rows, self.report.timeline(), self.acc


def mark_stopped(summary: str, acc: Accumulator | None) -> tuple[Any, Any, Any]:
    """What Stop does to the Debug tab (summary, table, timeline): the summary says the answer was
    cut short on purpose, and the table and timeline get every chunk that came, not just the latest."""
    if STREAMING not in summary or acc is None:
        return gr.skip(), gr.skip(), gr.skip()
    report = DebugReport()
    report.update(acc.records)
    return summary.replace(WINDOW_NOTE, "").replace(STREAMING, STOPPED, 1), report.rows, report.timeline()
