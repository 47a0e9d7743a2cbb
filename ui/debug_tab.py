"""The Debug tab: every chunk of the latest answer (chat or JSON), with timings.

The components are made first and placed later, so the Chat and JSON tabs can
name them as outputs before the Debug tab is laid out.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from llm.report import TABLE_HEADERS, TIMELINE_GAP, TIMELINE_X, TIMELINE_Y, DebugReport

TIMELINE_EVERY_MS = 500  # the picture is redrawn less often than the text: it is O(chunks)
STREAMING, COMPLETE, STOPPED = "● Streaming…", "✓ Complete", "■ Stopped by you"


class DebugTab:
    """The summary, timeline and chunk table; `render()` places them in a tab."""

    def __init__(self) -> None:
        self.summary = gr.Markdown("No answer yet.", render=False, elem_id="debug-summary")
        self.table = gr.Dataframe(
            headers=TABLE_HEADERS, value=[], render=False, interactive=False, wrap=True, elem_id="debug-table"
        )
        self.timeline = gr.ScatterPlot(
            x=TIMELINE_X, y=TIMELINE_Y, title="When each chunk arrived", render=False, elem_id="debug-timeline",
            tooltip=[TIMELINE_X, TIMELINE_Y, TIMELINE_GAP], height=260,
        )

    @property
    def outputs(self) -> list[gr.components.Component]:
        return [self.summary, self.table, self.timeline]

    def render(self) -> None:
        with gr.Tab("Debug"):
            gr.Markdown("The latest answer, chunk by chunk. Text is shown as a JSON string so spaces and newlines are visible.")
            self.summary.render()
            self.timeline.render()
            self.table.render()


class DebugUpdates:
    """The Debug outputs for one answer as it streams: (summary, rows, timeline or skip)."""

    def __init__(self, report: DebugReport) -> None:
        self.report = report
        self._drawn_at = 0.0

    def streaming(self) -> tuple[str, list[list[Any]], Any]:
        ms = self.report.stats.last_ms
        plot = gr.skip()
        if ms - self._drawn_at >= TIMELINE_EVERY_MS:
            plot, self._drawn_at = self.report.timeline(), ms
        return self.report.summary(STREAMING), self.report.rows, plot

    def final(self, status: str, final_text: str | None = None) -> tuple[str, list[list[Any]], Any]:
        return self.report.summary(status, final_text), self.report.rows, self.report.timeline()


def mark_stopped(summary: str) -> str:
    """What Stop does to the summary: the answer was cut short on purpose."""
    return summary.replace(STREAMING, STOPPED, 1)
