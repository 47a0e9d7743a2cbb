"""The chat's view of an answer: what the Chatbot shows while it streams, when it ends, and when it fails.

Used by the Chat tab and by replay (which shows a recorded answer in the same chat).
"""

from __future__ import annotations

from typing import Any

from llm import Accumulator
from llm.inert import inert_markdown, inert_text
from llm.markdown_blocks import MarkdownBlocks


def note(text: str) -> dict:
    """A message the page shows but the model never sees (see `to_messages`); its text may quote a
    visitor's input or a server's error, so it is shown inert."""
    return {"role": "assistant", "content": inert_text(text), "metadata": {"title": "⚠ Note"}}


# A finished block is not parsed again, but the page still clones, lays out and scrolls past it at
# each update: measured in Chromium (CDP profile of a 20,000-token answer), that part of an update's
# cost grows with the whole answer. Counted at a quarter of the live end's weight (a tenth left one 150-200 ms
# frame gap, a garbage collection, in each 20,000-token run; a quarter, none over 83 ms).
FINISHED_WEIGHT = 4


class AnswerBlocks:
    """A long answer's finished blocks (`MarkdownBlocks`) as chat messages, each made once, and its
    live end: the page then re-renders only the end at each update, not the whole answer."""

    def __init__(self) -> None:
        self._blocks = MarkdownBlocks()
        self.messages: list[dict] = []

    @property
    def finished_chars(self) -> int:
        return self._blocks.end_at

    def update(self, answer: str) -> tuple[list[dict], str]:
        blocks, end = self._blocks.update(answer)
        self.messages += [{"role": "assistant", "content": inert_markdown(b)} for b in blocks[len(self.messages):]]
        return self.messages, inert_markdown(end)


def shown(acc: Accumulator, notes: list[dict], done: bool = False, blocks: AnswerBlocks | None = None
          ) -> str | list[dict]:
    """The answer as the chat shows it: plain text, or after notes such as "turns left out" and a
    collapsible "Thinking" message. The thinking has a title, so it is never sent back to the model.
    With `blocks`, a long answer is its finished blocks and its live end, as messages (`to_messages`
    joins them again). The model's text keeps its Markdown but shows no image or HTML tag (`inert_markdown`)."""
    finished, answer = blocks.update(acc.answer) if blocks is not None else ([], inert_markdown(acc.answer))
    if not notes and not acc.thinking and not finished:
        return answer
    messages = list(notes)
    if acc.thinking:
        status = "done" if acc.answer or done else "pending"
        messages.append({"role": "assistant", "content": inert_markdown(acc.thinking),
                         "metadata": {"title": "Thinking", "status": status}})
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

    def value(self, acc: Accumulator, done: bool = False) -> str | list[dict]:
        answer = shown(acc, self.notes, done, self.blocks)
        return [*self.before, *as_messages(answer)] if self.before else answer

    def streaming(self, acc: Accumulator) -> tuple[Any, ...]:
        return (self.value(acc),)

    def redraw_chars(self, acc: Accumulator) -> int:
        """What the page redoes at each update: the answer's live end, the thinking while it streams, and
        the finished blocks at 1/FINISHED_WEIGHT (`stream_to_page` spaces updates by it)."""
        thinking = len(acc.thinking) if not acc.answer else 0
        finished = self.blocks.finished_chars
        return len(acc.answer) - finished + thinking + finished // FINISHED_WEIGHT

    async def complete(self, acc: Accumulator) -> tuple[Any, ...]:
        return (self.value(acc, done=True),)

    def failed(self, acc: Accumulator, error: str) -> tuple[Any, ...]:
        return ([*self.before, *as_messages(shown(acc, self.notes, done=True, blocks=self.blocks)), note(error)],)
