"""A long answer cut into finished blocks as it grows: the cuts never move, never fall inside a code
fence, and the blocks and the live end always join to the text; the chat sends the model one answer."""

from __future__ import annotations

import random

from langchain_core.messages import AIMessageChunk

from llm import Accumulator
from llm.stream.markdown_blocks import MarkdownBlocks
from llm.stream.messages import to_messages, transcript
from ui.chat_view import FINISHED_WEIGHT, THOUGHT_PART_WEIGHT, ChatView, as_messages


def answer(seed: int) -> str:
    rng = random.Random(seed)
    parts = []
    for _ in range(200):  # about 20,000 characters: several blocks of BLOCK_CHARS
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


def test_the_page_is_paced_by_the_live_ends_and_a_share_of_the_finished_blocks():
    """`redraw_chars`, which spaces page updates: the live end counts whole, finished blocks (not parsed
    again, still cloned and laid out) at 1/FINISHED_WEIGHT, and the thinking's live end whole and its
    finished parts at 1/THOUGHT_PART_WEIGHT until the answer starts."""
    view, acc = ChatView(), Accumulator()
    acc.add(AIMessageChunk(content="", additional_kwargs={"reasoning_content": "t" * 5000}))
    assert view.redraw_chars(acc) == 5000  # one paragraph: no part is finished
    acc.add(AIMessageChunk(content="", additional_kwargs={"reasoning_content": "\n\n" + answer(8)}))
    view.streaming(acc)
    parts = view.thinking.finished_chars
    assert 5000 < parts < len(acc.thinking)
    assert view.redraw_chars(acc) == len(acc.thinking) - parts + parts // THOUGHT_PART_WEIGHT
    text = answer(7)
    acc.add(AIMessageChunk(content=text))
    view.streaming(acc)
    finished = view.blocks.finished_chars
    assert 0 < finished < len(text)
    assert view.redraw_chars(acc) == len(text) - finished + finished // FINISHED_WEIGHT < len(text)


def test_a_long_thinking_block_is_one_thought_whose_parts_are_nested_in_it():
    """The page re-renders only the thinking's live end: its finished parts are thoughts nested in the
    "Thinking" one (Gradio's parent_id), shown inert; the model never gets them, the export joins them."""
    thinking = answer(3) + answer(4) + "<img src=x onerror=alert(1)> still thinking"
    view, acc = ChatView(), Accumulator()
    for i in range(0, len(thinking), 80):
        acc.add(AIMessageChunk(content="", additional_kwargs={"reasoning_content": thinking[i:i + 80]}))
        shown = view.value(acc)
    thought, *parts = shown
    assert thought["metadata"] == {"title": "Thinking", "id": view.thinking.thought_id, "status": "pending"}
    assert len(parts) >= 3 and all(m["metadata"] == {"parent_id": view.thinking.thought_id} for m in parts)
    assert "<img" not in parts[-1]["content"]  # inert, as the one message was
    acc.add(AIMessageChunk(content="Four."))
    acc.finish()
    shown = as_messages(view.value(acc, done=True))
    assert shown[0]["metadata"]["status"] == "done" and shown[-1] == {"role": "assistant", "content": "Four."}
    history = [{"role": "user", "content": "hi"}, *shown]
    assert [m.content for m in to_messages(history)] == ["hi", "Four."]
    assert transcript(history)[1:] == [{"role": "assistant", "content": thinking, "note": "Thinking"},
                                       {"role": "assistant", "content": "Four."}]
    assert len({view.thinking.thought_id, ChatView().thinking.thought_id}) == 2  # each answer's own thought
