"""The chunk-sum explorer: choose a range of the latest answer's chunks and add them with `+`.

Everything is shown as text (code boxes and a plain text box), never as HTML.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from llm.stream.chunk_sum import explore

from .debug_outputs import DebugAnswer

NO_ANSWER = "No answer yet: ask something in Chat or JSON, or replay a chunk log below."


class ChunkExplorer:
    """Two sliders over the chunks of the answer in `latest` (a `DebugAnswer`); the sum as Python, as
    printed, and its text."""

    def __init__(self, latest: gr.State) -> None:
        self.latest = latest
        with gr.Accordion("Add the chunks yourself", open=False, elem_id="explorer-section"):
            gr.Markdown(
                "Chunks are `AIMessageChunk`s, and they are additive: the sum of the first *n* is the answer "
                "so far. Choose a range; it is added with `+` on the real chunks of the latest answer."
            )
            with gr.Row():
                self.first = gr.Slider(0, 1, value=0, step=1, label="From chunk", elem_id="sum-first")
                self.last = gr.Slider(0, 1, value=0, step=1, label="To chunk (included)", elem_id="sum-last")
            self.meaning = gr.Markdown(NO_ANSWER, elem_id="sum-meaning")
            self.code = gr.Code(language="python", label="Python (r: the answer's chunks)", interactive=False,
                                elem_id="sum-code")
            self.printed = gr.Textbox(label="print(result)", interactive=False, max_lines=10, elem_id="sum-printed")
            self.text = gr.Textbox(label="result.text", interactive=False, max_lines=12, elem_id="sum-text")
        # `input`: moved by the person, not by an update; always_last: a drag sums once it settles.
        gr.on([self.first.input, self.last.input], self.sum_range, [self.latest, self.first, self.last], self.outputs,
              api_visibility="undocumented", queue=False, trigger_mode="always_last", show_progress="hidden")

    @property
    def outputs(self) -> list[gr.components.Component]:
        return [self.first, self.last, self.meaning, self.code, self.printed, self.text]

    def show_whole_answer(self) -> dict[str, Any]:
        """Event arguments that reset the explorer to all the chunks of the latest answer."""
        return {"fn": lambda latest: self.sum_range(latest, 0, None), "inputs": [self.latest], "outputs": self.outputs,
                "api_visibility": "undocumented", "queue": False, "show_progress": "hidden"}

    @staticmethod
    def sum_range(latest: DebugAnswer | None, first: float, last: float | None) -> tuple[Any, ...]:
        """(from slider, to slider, meaning, code, printed, text) for chunks `first`..`last` (None: the end)."""
        acc = latest.acc if latest is not None else None
        chunks = list(acc.chunks) if acc is not None else []  # a copy: the answer may still be streaming
        if not chunks:
            return gr.skip(), gr.skip(), NO_ANSWER, "", "", ""
        top = len(chunks) - 1
        final = acc.total if acc.finished else None  # while it streams there is no final message yet
        view = explore(chunks, int(first), top if last is None else int(last), final)
        slider = {"minimum": 0, "maximum": max(top, 1), "step": 1}  # a slider needs maximum > minimum
        return (gr.update(value=view.first, **slider), gr.update(value=view.last, **slider),
                view.meaning, view.code, view.printed, view.text)
