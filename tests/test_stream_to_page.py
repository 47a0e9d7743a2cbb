"""The one loop to the page: updates as chunks come, a readable failure that keeps the partial
answer, and Stop kept in the answer's state (its phase), not in page text."""

import asyncio
from contextlib import aclosing
from types import SimpleNamespace
from typing import ClassVar

import gradio as gr
from langchain_core.messages import AIMessageChunk

from llm import Phase
from llm.lessons.branching import Origin
from ui.answer_frame import MARKS, says, stop_answer
from ui.chat_view import ChatView
from ui.debug_outputs import DebugAnswer
from ui.stream_to_page import stream_to_page

SKIP = {"__type__": "update"}


def chunks(*texts: str, fail_after: bool = False, closed: list | None = None):
    async def source():
        try:
            for text in texts:
                yield AIMessageChunk(content=text, response_metadata={"model_name": "m<1>"})
                await asyncio.sleep(0)
            if fail_after:
                raise ConnectionError("the server went away with sk-FAKEFAKEFAKE")
        finally:
            if closed is not None:
                closed.append(True)

    return source()


async def collect(updates, limit: int | None = None) -> list[tuple]:
    seen = []
    async with aclosing(updates):
        async for update in updates:
            seen.append(update)
            if limit is not None and len(seen) == limit:
                break
    return seen


def run(coroutine):
    return asyncio.run(coroutine)


def test_a_complete_answer_ends_with_every_chunk_and_the_sum_check():
    updates = run(collect(stream_to_page(chunks("Hel", "lo"), ChatView())))
    answer, summary, rows, _, latest, _, to_shade, ended = updates[-1]
    assert answer == "Hello" and len(updates) > 1
    assert all(update[-1] == SKIP for update in updates[:-1]) and isinstance(ended, int)  # a new end, once
    assert to_shade is None  # no probabilities asked: the token view has nothing to follow
    assert summary.startswith("**✓ Complete**") and "Sum check ✓ the 2 chunks" in summary
    assert [row[3] for row in rows] == ['"Hel"', '"lo"']
    assert isinstance(latest, DebugAnswer) and latest.acc.phase is Phase.COMPLETE
    # The header's line, the server's name as inert code: once, as soon as it is known (setting a State costs
    # Gradio a rebuild of its config, even to the same value).
    assert [update[5] for update in updates if update[5] != SKIP] == ["**Last answer from:** `m<1>`"]


def test_a_failure_keeps_the_partial_answer_and_says_why_without_the_secret():
    updates = run(collect(stream_to_page(chunks("Par", "tial", fail_after=True), ChatView())))
    messages, summary, rows, _, latest, _, _, _ = updates[-1]
    assert messages[0]["content"] == "Partial"
    assert messages[-1]["metadata"]["title"] == "⚠ Note" and "connection" in messages[-1]["content"].lower()
    assert "FAKEFAKE" not in str(updates)
    assert latest.acc.phase is Phase.FAILED and summary.startswith("**✗ ")
    assert len(rows) == 2


def test_closing_the_loop_closes_the_source_and_marks_the_answer_stopped():
    closed: list = []
    updates = stream_to_page(chunks(*"abcdefgh", closed=closed), ChatView())
    seen = run(collect(updates, limit=1))
    latest = seen[0][4]
    assert closed == [True]
    assert latest.acc.phase is Phase.STOPPED


def test_stop_marks_the_answer_of_its_own_tab_and_the_loop_sends_nothing_more():
    async def scenario():
        closed: list = []
        updates = stream_to_page(chunks(*"abcdefgh", closed=closed), ChatView())
        async with aclosing(updates):
            first = await anext(updates)
            latest = first[4]
            assert stop_answer("JSON tab", says("stopped"))(latest) == (SKIP,) * (1 + MARKS)  # another tab's Stop
            assert latest.acc.phase is Phase.STREAMING
            summary, rows, _, ended = stop_answer("")(latest)
            assert summary.startswith("**■ Stopped by you**") and rows and isinstance(ended, int)  # the explorer follows
            rest = [update async for update in updates]
        return rest, closed, latest

    rest, closed, latest = run(scenario())
    assert rest == [] and closed == [True] and latest.acc.phase is Phase.STOPPED


def test_stop_after_the_answer_completed_changes_nothing():
    updates = run(collect(stream_to_page(chunks("done"), ChatView())))
    latest = updates[-1][4]
    assert stop_answer("")(latest) == (SKIP,) * MARKS
    assert latest.acc.phase is Phase.COMPLETE
    assert stop_answer("")(None) == (SKIP,) * MARKS


def test_only_an_answer_with_probabilities_is_handed_to_the_token_view():
    """The token view's event runs for an answer that asked for probabilities, or a replay that carries
    them; for others the State gets None (once), so no event follows them."""
    asked = Origin(model=None, messages=[], top_logprobs=3)
    for kwargs, follows in [({}, False), ({"origin": asked}, True), ({"probabilities": True}, True),
                            ({"origin": Origin(model=None, messages=[])}, False)]:
        updates = run(collect(stream_to_page(chunks("Hel", "lo"), ChatView(), **kwargs)))
        first, last = updates[0][-2], updates[-1][-2]
        assert (isinstance(first, DebugAnswer) and last is first) if follows else (first is None and last is None)
        assert all(update[-2] is gr.skip() or update[-2] == gr.skip() for update in updates[1:-1])


# The frame around the loop (ui/answer_frame.py), with LangChain's fake chat model as the backend's.

def framed(**answers_kwargs):
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel

    from llm.backends.backend import Backend
    from llm.guards.limits import Limits
    from ui.answer_frame import Frame
    from ui.debug_outputs import DebugOutputs

    with gr.Blocks():
        debug = DebugOutputs()
    model = GenericFakeChatModel(messages=iter(["one two", "three four"]))
    return Frame(Backend(None, model, None), Limits(), debug), model


def test_the_frame_refuses_in_order_and_takes_one_answer_at_a_time_per_session():
    from ui.answer_frame import Answer, Ask

    frame, _ = framed()
    started = []

    @frame.answers(refused=lambda text: (f"⚠ {text}",), busy=lambda text: (f"⏳ {text}",))
    def tab(message: str, http=None) -> Ask:
        if not message:
            return Ask(refused="Say something.")  # the tab's own first check, before the model's
        started.append(message)
        return Ask(http, checks=lambda session: "Too long." if len(message) > 5 else None,
                   start=lambda model, secrets: Answer(model.astream(message), ChatView()))

    refusal = run(collect(tab("")))
    assert [update[0] for update in refusal] == ["⚠ Say something."] and refusal[0][1:] == frame.debug.unchanged()
    assert run(collect(tab("far too long")))[0][0] == "⚠ Too long."

    class Visitor:
        session_hash = "s1"

    async def two_at_once():
        first = tab("hi", Visitor())
        async with aclosing(first):
            await first.__anext__()  # the first answer is streaming: the session's turn is taken
            second = await collect(tab("again", Visitor()))
        third = await collect(tab("again", Visitor()))  # the first was closed (Stop): the turn is free
        return second, third

    second, third = run(two_at_once())
    assert second[0][0].startswith("⏳ ") and len(second) == 1
    assert third[-1][0] == "three four" and third[-1][-1] != SKIP  # streamed to its end


def test_an_error_while_starting_is_a_sentence_without_the_key_and_answers_follow_each_other():
    from ui.answer_frame import Answer, Ask, Refused

    frame, model = framed()

    @frame.answers(refused=lambda text: (text,))
    def failing(kind: str) -> Ask:
        def start(model, secrets):
            if kind == "refused":
                raise Refused("Not this one.")
            raise ConnectionError("the server said no to sk-FAKEFAKEFAKE")
        return Ask(api_key="sk-FAKEFAKEFAKE", start=start)

    assert run(collect(failing("refused")))[0][0] == "Not this one."
    said = run(collect(failing("broken")))[0][0]
    assert "sk-FAKEFAKEFAKE" not in said and "[redacted]" in said

    @frame.answers(refused=lambda text: (text,))
    def rounds() -> Ask:
        async def between():
            yield ("tools ran",)  # the tab's own update between rounds, Debug left as it is
            yield Answer(model.astream("next"), ChatView())

        return Ask(start=lambda model, secrets: Answer(model.astream("first"), ChatView(), then=between))

    updates = run(collect(rounds()))
    texts = [update[0] for update in updates]
    assert "tools ran" in texts and texts[-1] == "three four"
    index = texts.index("tools ran")
    assert texts[index - 1] == "one two" and updates[index][1:] == frame.debug.unchanged()


def test_answers_from_a_model_on_this_machine_share_fewer_page_updates():
    """Each page update's CPU is the offline model's own: beside it, the answers streaming at once share
    UPDATES_PER_SECOND_BESIDE_THE_MODEL updates a second, not UPDATES_PER_SECOND. Every chunk still arrives."""
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel

    from llm.backends.backend import Backend
    from llm.guards.limits import Limits
    from ui.answer_frame import Answer, Ask, Frame
    from ui.debug_outputs import DebugOutputs

    class LocalFake(GenericFakeChatModel):
        runs_on_this_machine: ClassVar[bool] = True

    async def steady(n: int):
        for i in range(n):
            yield AIMessageChunk(content=f"{i} ")
            await asyncio.sleep(0.01)  # a model's pace: a token every 10 ms

    def updates_of(model, answers: int = 4, tokens: int = 40) -> tuple[float, list[str]]:
        with gr.Blocks():
            frame = Frame(Backend(None, model, None), Limits(), DebugOutputs())

        @frame.answers(refused=lambda text: (text,))
        def tab(http=None) -> Ask:
            return Ask(http, start=lambda model, secrets: Answer(steady(tokens), ChatView()))

        async def crowd():  # each from a session of its own: one answer at a time is per session
            return await asyncio.gather(*(collect(tab(SimpleNamespace(session_hash=f"s{n}"))) for n in range(answers)))

        seen = run(crowd())
        return sum(map(len, seen)) / answers, [updates[-1][0] for updates in seen]

    remote, texts = updates_of(GenericFakeChatModel(messages=iter([])))
    beside, local_texts = updates_of(LocalFake(messages=iter([])))
    whole = "".join(f"{i} " for i in range(40))
    assert texts == local_texts == [whole] * 4
    assert beside * 2 <= remote, (beside, remote)  # 4 answers at once: 6 updates each beside the model, 15 otherwise
