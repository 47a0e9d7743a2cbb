"""The Debug tab's own part: every chunk of the latest answer (chat, JSON or replay), with timings,
and the chunk-sum explorer. `app.py` places export and replay beside them.
"""

from __future__ import annotations

import gradio as gr

from .chunk_explorer import ChunkExplorer
from .debug_outputs import DebugOutputs


def debug_view(debug: DebugOutputs) -> ChunkExplorer:
    """Lay out the Debug outputs and the explorer (inside the current tab); returns the explorer."""
    gr.Markdown("The latest answer, chunk by chunk: the summary, when each chunk came, and every chunk (its text as a "
                "JSON string, so spaces and newlines show). Below: add the chunks yourself, token probabilities, "
                "and export or replay.")
    debug.render()
    return ChunkExplorer(debug.latest)
