"""What an answer function (chat, JSON or replay) yields for the Debug tab as it streams."""

from __future__ import annotations

from typing import Any

import gradio as gr

from llm import Accumulator
from llm.report import DebugReport

TIMELINE_EVERY_MS = 500  # the picture is redrawn less often than the text: it is O(chunks)
STREAMING, COMPLETE, STOPPED = "● Streaming…", "✓ Complete", "■ Stopped by you"


class DebugUpdates:
    """The Debug outputs for one answer as it streams: (summary, rows, timeline or skip, accumulator)."""

    def __init__(self, report: DebugReport, acc: Accumulator) -> None:
        self.report = report
        self.acc = acc
        self._drawn_at = 0.0

    def streaming(self) -> tuple[str, list[list[Any]], Any, Accumulator]:
        ms = self.report.stats.last_ms
        plot = gr.skip()
        if ms - self._drawn_at >= TIMELINE_EVERY_MS:
            plot, self._drawn_at = self.report.timeline(), ms
        return self.report.summary(STREAMING), self.report.rows, plot, self.acc

    def final(self, status: str, final_text: str | None = None) -> tuple[str, list[list[Any]], Any, Accumulator]:
        return self.report.summary(status, final_text), self.report.rows, self.report.timeline(), self.acc


def mark_stopped(summary: str) -> str:
    """What Stop does to the summary: the answer was cut short on purpose."""
    return summary.replace(STREAMING, STOPPED, 1)
