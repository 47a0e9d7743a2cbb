"""A long answer cut into finished blocks as it grows: the cuts never move, never fall inside a code
fence, and the blocks and the live end always join to the text; the chat sends the model one answer."""

from __future__ import annotations

import random

from langchain_core.messages import AIMessageChunk

from llm import Accumulator
from llm.markdown_blocks import MarkdownBlocks
from llm.messages import to_messages
from ui.chat_view import ChatView, as_messages


def answer(seed: int) -> str:
    rng = random.Random(seed)
    parts = []
    for _ in range(60):
        kind = rng.choice(["paragraph", "paragraph", "fence", "list", "blank lines"])
        if kind == "paragraph":
            parts.append(" ".join(f"word{rng.randrange(999)}" for _ in range(rng.randrange(5, 60))) + "\n\n")
        elif kind == "fence":
            body = "\n\n".join(f"x = {i}" for i in range(rng.randrange(1, 8)))
            parts.append(f"```python\n{body}\n```\n\n")
        elif kind == "list":
            parts.append("".join(f"- item {i}\n" for i in range(rng.randrange(1, 6))) + "\n")
        else:
            parts.append("\n\n\n")
    return "".join(parts)


def inside_fence(text: str, at: int) -> bool:
    return text[:at].count("```") % 2 == 1


def test_cuts_never_move_never_split_a_fence_and_always_join_to_the_text():
    for seed in range(20):
        text, rng = answer(seed), random.Random(seed)
        blocks, seen, cut = MarkdownBlocks(min_chars=300), [], 0
        while cut < len(text):
            cut = min(len(text), cut + rng.randrange(1, 40))
            finished, end = blocks.update(text[:cut])
            assert "".join(finished) + end == text[:cut]
            assert finished[:len(seen)] == seen  # a block, once cut, never changes
            seen = list(finished)
        assert len(seen) >= 5
        at = 0
        for block in seen:
            at += len(block)
            assert len(block) >= 300 and block.endswith("\n\n") and not inside_fence(text, at)


def test_the_chat_shows_a_long_answer_in_blocks_and_the_model_gets_it_back_as_one():
    text = answer(1)
    view, acc = ChatView(), Accumulator()
    for i in range(0, len(text), 50):
        acc.add(AIMessageChunk(content=text[i:i + 50]))
        shown = view.value(acc)
    acc.finish()
    shown = as_messages(view.value(acc, done=True))
    assert len(shown) >= 3 and all(m["role"] == "assistant" for m in shown)
    history = [{"role": "user", "content": "hi"}, *shown, {"role": "user", "content": "more"}]
    assert [m.content for m in to_messages(history)] == ["hi", text, "more"]


def test_a_short_answer_stays_one_message():
    view, acc = ChatView(), Accumulator()
    acc.add(AIMessageChunk(content="Short.\n\nStill short."))
    assert view.value(acc) == "Short.\n\nStill short."


def test_the_page_is_paced_by_the_live_end_and_a_quarter_of_the_finished_blocks():
    """`redraw_chars`, which spaces page updates: the live end counts whole, finished blocks (not parsed
    again, still cloned and laid out) at 1/FINISHED_WEIGHT, and thinking whole until the answer starts."""
    from ui.chat_view import FINISHED_WEIGHT

    view, acc = ChatView(), Accumulator()
    acc.add(AIMessageChunk(content="", additional_kwargs={"reasoning_content": "t" * 5000}))
    assert view.redraw_chars(acc) == 5000
    text = answer(7)
    acc.add(AIMessageChunk(content=text))
    view.streaming(acc)
    finished = view.blocks.finished_chars
    assert 0 < finished < len(text)
    assert view.redraw_chars(acc) == len(text) - finished + finished // FINISHED_WEIGHT < len(text)
