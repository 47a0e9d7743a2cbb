"""The Debug tab: every chunk of the latest answer (chat, JSON or replay), with timings,
the chunk-sum explorer, and export and replay of the chunk log.

The components are made first and placed later, so the Chat and JSON tabs can
name them as outputs before the Debug tab is laid out.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from llm.report import TABLE_HEADERS, TIMELINE_GAP, TIMELINE_X, TIMELINE_Y

from .chunk_explorer import ChunkExplorer
from .chunk_files import chunk_files


class DebugTab:
    """The summary, timeline and chunk table, and the latest answer's `Accumulator` (per session);
    `render(chat)` places them in a tab with the explorer, export and replay."""

    def __init__(self) -> None:
        self.summary = gr.Markdown("No answer yet.", render=False, elem_id="debug-summary")
        self.table = gr.Dataframe(
            headers=TABLE_HEADERS, value=[], render=False, interactive=False, wrap=True, elem_id="debug-table"
        )
        self.timeline = gr.ScatterPlot(
            x=TIMELINE_X, y=TIMELINE_Y, title="When each chunk arrived", render=False, elem_id="debug-timeline",
            tooltip=[TIMELINE_X, TIMELINE_Y, TIMELINE_GAP], height=260,
        )
        # Held by reference: the answer function keeps adding to the same Accumulator, so the explorer
        # and export see every chunk that came, even after Stop.
        self.latest = gr.State(None)

    @property
    def outputs(self) -> list[gr.components.Component]:
        return [self.summary, self.table, self.timeline, self.latest]

    @property
    def on_stop(self) -> dict[str, list[gr.components.Component]]:
        """Inputs and outputs for `debug_updates.mark_stopped`."""
        return {"inputs": [self.summary, self.latest], "outputs": [self.summary, self.table, self.timeline]}

    @staticmethod
    def unchanged() -> tuple[Any, ...]:
        """What an answer function yields for the Debug outputs when there is no answer to show."""
        return gr.skip(), gr.skip(), gr.skip(), gr.skip()

    def render(self, chat: gr.ChatInterface) -> None:
        with gr.Tab("Debug") as tab:
            gr.Markdown("The latest answer, chunk by chunk. Text is shown as a JSON string so spaces and newlines are visible.")
            self.summary.render()
            self.timeline.render()
            self.table.render()
            explorer = ChunkExplorer(self.latest)
            replay_ends = chunk_files(self, chat)
        for event in [tab.select, *(ended.then for ended in replay_ends)]:
            event(**explorer.show_whole_answer())
