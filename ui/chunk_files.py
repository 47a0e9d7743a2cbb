"""Export the latest answer's chunk log and the conversation; replay a chunk log into Chat and Debug.

A replay goes through the one loop (`stream_to_page`) with the chat's view of the answer
(`ChatView`), with recorded chunks instead of a model.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.processing_utils import save_bytes_to_cache

from llm import Accumulator
from llm.inert import inert_text
from llm.stream.chunk_log import ChunkLogError, areplay, dumps_chunk_log, read_chunk_log, replay_problem
from llm.stream.messages import transcript

from .answer_frame import Answer, Ask, Frame, says, wire_stop
from .chat_view import ChatView
from .debug_outputs import STREAMING, DebugAnswer

SPEEDS: dict[str, float | None] = {"1x": 1.0, "2x": 2.0, "10x": 10.0, "at once": None}
REPLAYS_AT_ONCE = 16  # a replay mostly waits (at its recorded pace); it never touches the model
REPLAY_STOPPED = "■ Replay stopped by you; the chat keeps what had arrived."


def chunk_files(frame: Frame, chat: gr.ChatInterface) -> None:
    """Lay out export and replay of `chat`'s answers (inside the current tab)."""
    debug = frame.debug
    with gr.Accordion("Export and replay", open=False, elem_id="files-section"):
        with gr.Row():
            export = gr.Button("Export the latest answer", elem_id="export-run", scale=0)
            files = gr.File(label="Chunk log (.jsonl) and conversation (.json)", file_count="multiple",
                            interactive=False, height=140, elem_id="export-files")
        with gr.Row():
            upload = gr.File(label="A chunk log to replay (.jsonl)", file_types=[".jsonl", ".json", ".txt"],
                             type="filepath", height=140, elem_id="replay-file")
            with gr.Column():
                speed = gr.Radio(list(SPEEDS), value="1x", label="Speed", elem_id="replay-speed")
                with gr.Row():
                    run = gr.Button("Replay into Chat and Debug", variant="primary", elem_id="replay-run")
                    run_stop = gr.Button("Stop", variant="stop", elem_id="replay-stop")
        status = gr.Markdown("", elem_id="replay-status")

    def export_files(latest: DebugAnswer | None, history: list[dict] | None) -> tuple[Any, str]:
        """Write the chunk log and the conversation into Gradio's cache; (files, note)."""
        # An agent's run has a log per model call; any answer may still be streaming (its complete chunks go).
        answers = latest.calls[: latest.call] if latest is not None else []
        logs = [(answer, min(len(answer.acc.records), len(answer.acc.chunks))) for answer in answers]
        count = sum(n for _, n in logs)
        if not count:
            return gr.skip(), "⚠ Nothing to export yet: ask something in Chat or JSON first."
        stamp = time.strftime("%Y%m%d-%H%M%S")
        paths = [save_bytes_to_cache(dumps_chunk_log(answer.acc.records[:n], answer.acc.chunks[:n]).encode(),
                                     f"chunks-{stamp}" + (f"-call{answer.call}" if len(logs) > 1 else "") + ".jsonl",
                                     files.GRADIO_CACHE) for answer, n in logs if n]
        conversation = json.dumps(transcript(history or []), ensure_ascii=False, indent=2)
        paths.append(save_bytes_to_cache(conversation.encode(), f"conversation-{stamp}.json", files.GRADIO_CACHE))
        calls = f" of {len(logs)} model calls (a log each)" if len(logs) > 1 else ""
        return paths, f"Exported {count} chunks{calls} and {len(history or [])} chat messages."

    @frame.answers(refused=lambda text: (gr.skip(), f"⚠ {text}"))
    async def replay(path: str | None, speed_name: str, history: list[dict] | None) -> Ask:
        """Stream a chunk log again; yields (chat, note, *the Debug outputs)."""
        if not path:
            return Ask(refused="Choose a chunk log first: a .jsonl file from Export or `LLM.save_chunks`.")
        if not isinstance(speed_name, str) or speed_name not in SPEEDS:
            return Ask(refused=f"Choose a speed: {', '.join(SPEEDS)}.")
        try:  # off the event loop: reading and checking up to 20 MB takes a while
            logged = await asyncio.to_thread(read_chunk_log, path)
        except ChunkLogError as error:
            return Ask(refused=inert_text(str(error)))
        if too_long := replay_problem(logged, SPEEDS[speed_name]):
            return Ask(refused=too_long)
        name = shown_name(path)
        note = (f"Replay of `{name}` at {speed_name}: the times are the replay's"
                + ("." if SPEEDS[speed_name] == 1.0 else ", not the recording's."))
        probabilities = any(entry.chunk.response_metadata.get("logprobs") for entry in logged)  # shade them too
        view = ReplayView(name, speed_name, len(logged), list(history or []))
        # Recorded chunks, no model: no one-at-a-time lock either (at most REPLAYS_AT_ONCE, mostly waiting).
        return Ask(uses_model=False, lock=False, start=lambda model, secrets: Answer(
            areplay(logged, SPEEDS[speed_name]), view, notes=[note], probabilities=probabilities))

    # The history comes from ChatInterface's own state, not from the visitor: the API takes none.
    export.click(export_files, [debug.latest, chat.chatbot_state], [files, status], api_name="export_chunks")
    replaying = run.click(replay, [upload, speed, chat.chatbot_state], [chat.chatbot, status, *debug.outputs],
                          api_name="replay", concurrency_limit=REPLAYS_AT_ONCE, show_progress="minimal")
    # ChatInterface keeps its history in its own state, not in what the chatbot shows: hand it the
    # replayed messages as ChatInterface's own sync does, so the next message, retry and undo see them.
    keep_in_chat = {"fn": lambda messages: (messages, messages), "inputs": [chat.chatbot],
                    "outputs": [chat.chatbot_state, chat.chatbot_value], "api_visibility": "undocumented",
                    "queue": False}
    replaying.then(**keep_in_chat)
    wire_stop(run_stop.click, replaying, debug, ReplayView.source, [status], says(REPLAY_STOPPED)).then(**keep_in_chat)


def shown_name(path: str) -> str:
    """The uploaded file's name, safe inside a Markdown code span."""
    return re.sub(r"[^\w.\- ]", "_", Path(path).name)[:80] or "chunk log"


class ReplayView(ChatView):
    """The chat's view of a replayed answer, after the chat so far and a "▶ Replay" header, and a note."""

    source = "replay"

    def __init__(self, name: str, speed_name: str, count: int, history: list[dict]) -> None:
        header = {"role": "assistant", "content": f"`{name}` at {speed_name}: recorded chunks, no model.",
                  "metadata": {"title": "▶ Replay"}}
        super().__init__(notes=[header], before=history)
        self.name, self.count = name, count

    def streaming(self, acc: Accumulator) -> tuple[Any, ...]:
        return self.value(acc), f"{STREAMING} replaying `{self.name}`"

    async def complete(self, acc: Accumulator) -> tuple[Any, ...]:
        return self.value(acc, done=True), f"✓ Replayed {self.count} chunks of `{self.name}`."

    def failed(self, acc: Accumulator, error: str) -> tuple[Any, ...]:
        return *super().failed(acc, error), f"⚠ {inert_text(error)}"
