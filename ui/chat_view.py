"""The chat's view of an answer: what the Chatbot shows while it streams, when it ends, and when it fails.

Used by the Chat tab and by replay (which shows a recorded answer in the same chat).
"""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from llm import Accumulator
from llm.inert import inert_markdown, inert_text
from llm.stream.markdown_blocks import MarkdownBlocks


def note(text: str) -> dict:
    """A message the page shows but the model never sees (see `to_messages`); its text may quote a
    visitor's input or a server's error, so it is shown inert."""
    return {"role": "assistant", "content": inert_text(text), "metadata": {"title": "⚠ Note"}}


# A finished block is not parsed again, but the page still clones, lays out and scrolls past it at
# each update: measured in Chromium (CDP profile of a 20,000-token answer), that part of an update's
# cost grows with the whole answer. Counted at a quarter of the live end's weight (with blocks of 2,000
# characters, a tenth left one 150-200 ms frame gap, a garbage collection, in each 20,000-token run; a
# quarter, none over 83 ms).
FINISHED_WEIGHT = 4
# A finished part of a long thinking block costs the page more at each update than an answer's block
# (each is a nested Gradio thought, with effects of its own that run at every update): a 10,000-token
# thinking block at 1,000 tokens/s, parts of BLOCK_CHARS, spent 0.6-3% of its time in long tasks with
# parts at a quarter, 0.5% at a half (benchmarks/browser.py; the figures, and those with smaller parts, in docs/benchmarks.md).
THOUGHT_PART_WEIGHT = 2


class AnswerBlocks:
    """A long text's finished blocks (`MarkdownBlocks`) as chat messages, each made once, and its
    live end: the page then re-renders only the end at each update, not the whole text. With
    `metadata`, each block carries it (a thinking block's parts are nested in its thought)."""

    def __init__(self, metadata: dict | None = None) -> None:
        self._blocks = MarkdownBlocks()
        self._extra = {"metadata": metadata} if metadata else {}
        self.messages: list[dict] = []

    @property
    def finished_chars(self) -> int:
        return self._blocks.end_at

    def update(self, text: str) -> tuple[list[dict], str]:
        blocks, end = self._blocks.update(text)
        self.messages += [{"role": "assistant", "content": inert_markdown(b), **self._extra}
                          for b in blocks[len(self.messages):]]
        return self.messages, inert_markdown(end)


# Gradio draws a nested thought with its own title row, indent and border; a long thinking block's
# parts (ThinkingBlocks) are one text, so they get none, and the paragraph gap Gradio puts between two
# paragraphs of one message (--spacing-xxl); tests/test_browser_reasoning.py measures it. Gradio also
# slides each nested thought open as it mounts (a Svelte transition: a Web Animation of its height,
# laid out at every frame); `!important` outranks an animation, so a part appears in place, as an
# answer's block does.
THINKING_CSS = """
.thought-group .children { padding-left: 0; }
.thought-group .children > .thought-group { padding: 0; margin: var(--spacing-xxl) 0 0; border: none; background: none; }
.thought-group .children > .thought-group > .title { display: none; }
.thought-group .children > .thought-group > .content {
  margin: 0 !important; padding: 0 !important; border-width: 0 !important; height: auto !important;
  opacity: 1 !important; overflow: visible !important;
}
"""


class ThinkingBlocks:
    """A long thinking block as one collapsible "Thinking" thought whose parts are thoughts nested in
    it (Gradio's `parent_id`), cut like the answer: while a reasoning model thinks at length, the page
    re-renders only the end of its thinking. The first part is the thought's own text; the parts after
    it have no title, and `THINKING_CSS` hides the empty title row Gradio gives each."""

    def __init__(self, thought_id: str) -> None:
        self.thought_id = thought_id
        self._parts = AnswerBlocks(metadata={"parent_id": thought_id})

    @property
    def finished_chars(self) -> int:
        return self._parts.finished_chars

    def messages(self, thinking: str, status: str) -> list[dict]:
        finished, end = self._parts.update(thinking)
        first = finished[0]["content"] if finished else end
        thought = {"role": "assistant", "content": first,
                   "metadata": {"title": "Thinking", "id": self.thought_id, "status": status}}
        live_end = [{"role": "assistant", "content": end, "metadata": {"parent_id": self.thought_id}}] \
            if finished and end else []
        return [thought, *finished[1:], *live_end]


def shown(acc: Accumulator, notes: list[dict], done: bool, blocks: AnswerBlocks, thinking: ThinkingBlocks
          ) -> str | list[dict]:
    """The answer as the chat shows it: plain text, or after notes such as "turns left out" and a
    collapsible "Thinking" message. The thinking has a title, so it is never sent back to the model.
    A long answer is its finished `blocks` and its live end, as messages (`to_messages` joins them
    again); a long thinking, its `thinking` parts nested in the one thought. The model's text keeps its
    Markdown but shows no image or HTML tag (`inert_markdown`)."""
    finished, answer = blocks.update(acc.answer)
    if not notes and not acc.thinking and not finished:
        return answer
    messages = list(notes)
    if acc.thinking:
        messages += thinking.messages(acc.thinking, "done" if acc.answer or done else "pending")
    messages += finished
    if answer or (not finished and (acc.answer or done or not acc.thinking)):
        messages.append({"role": "assistant", "content": answer})
    return messages


def as_messages(shown_value: str | list[dict]) -> list[dict]:
    """`shown`'s value as a list of messages, leaving out an empty answer."""
    messages = shown_value if isinstance(shown_value, list) else [{"role": "assistant", "content": shown_value}]
    return [m for m in messages if m["content"] or m.get("metadata")]


class ChatView:
    """The Chatbot's value at each step: the answer after `notes` (messages), after `before` (a
    history the value must repeat, as replay's does). A failure keeps the partial answer and adds a note."""

    source = ""

    def __init__(self, notes: list[dict] | None = None, before: list[dict] | None = None) -> None:
        self.notes = list(notes or [])
        self.before = list(before or [])
        self.blocks = AnswerBlocks()
        self.thinking = ThinkingBlocks(f"thinking-{uuid4().hex[:12]}")

    def value(self, acc: Accumulator, done: bool = False) -> str | list[dict]:
        answer = shown(acc, self.notes, done, self.blocks, self.thinking)
        return [*self.before, *as_messages(answer)] if self.before else answer

    def streaming(self, acc: Accumulator) -> tuple[Any, ...]:
        return (self.value(acc),)

    def redraw_chars(self, acc: Accumulator) -> int:
        """What the page redoes at each update (`stream_to_page` spaces updates by it): the answer's live
        end, and its finished blocks at 1/FINISHED_WEIGHT; until the answer starts, the thinking's live
        end and its finished parts at 1/THOUGHT_PART_WEIGHT."""
        blocks, parts = self.blocks.finished_chars, self.thinking.finished_chars
        answer = len(acc.answer) - blocks + blocks // FINISHED_WEIGHT
        return answer if acc.answer else answer + len(acc.thinking) - parts + parts // THOUGHT_PART_WEIGHT

    async def complete(self, acc: Accumulator) -> tuple[Any, ...]:
        return (self.value(acc, done=True),)

    def failed(self, acc: Accumulator, error: str) -> tuple[Any, ...]:
        return ([*self.before, *as_messages(shown(acc, self.notes, True, self.blocks, self.thinking)), note(error)],)
