"""The answers' inputs are preprocessed on the event loop (`ui/loop_preprocess.py`): the same values
reach the tabs as through Gradio's preprocessing, without a worker thread for each input."""

from __future__ import annotations

import asyncio
import inspect

import gradio as gr
import pytest
from gradio_client import Client

from tests.conftest import launch, server_settings
from tests.openai_server import Scenario
from ui.inputs import CheckedSlider, CheckedTextbox, MessageBox
from ui.loop_preprocess import preprocess_on_the_loop
from ui.settings import ModelPicker


def test_every_answer_event_is_preprocessed_on_the_loop_and_an_upload_is_left_to_gradio(openai_server):
    from app import build_demo

    demo = build_demo(server_settings(openai_server))
    events = {block_fn.api_name: block_fn for block_fn in demo.fns.values() if block_fn.api_name}
    chats = [name for name in events if name == "chat" or name.startswith("_submit_fn")]
    assert len(chats) == 6  # /chat, and the page's: send, an example, retry, an option, an edit
    for name in [*chats, "json", "pipeline", "tools", "continue_from"]:
        assert events[name].preprocess is False, name
    assert events["replay"].preprocess is True  # a file: moved and checked by Gradio, on its threads


def test_the_chats_inputs_are_preprocessed_on_the_event_loop_into_what_the_tab_reads(server, monkeypatch):
    on_loop: list[bool] = []
    for component in (MessageBox, CheckedTextbox, CheckedSlider, ModelPicker):
        def recording(self, payload, preprocess=component.preprocess):
            try:
                asyncio.get_running_loop()
                on_loop.append(True)
            except RuntimeError:  # a worker thread: no loop runs there
                on_loop.append(False)
            return preprocess(self, payload)

        monkeypatch.setattr(component, "preprocess", recording)
    server.scenario = Scenario(tokens=["Forty", "-two"])
    demo, url = launch(server_settings(server))
    try:
        # A number as the message, and no system prompt: as Gradio's Textbox, text and "".
        answer, *_ = Client(url, verbose=False).predict(42, None, 0.5, 10, api_name="/chat")
    finally:
        demo.close()
    assert answer == "Forty-two"
    assert server.requests[-1]["messages"] == [{"role": "user", "content": "42"}]
    assert on_loop == [True] * 7, on_loop  # message, system prompt, temperature, max tokens, model, key, alternatives


def test_gradios_code_box_passes_its_value_on_as_it_is():
    """The JSON tab's schema box is preprocessed on the loop because this holds (a Gradio upgrade that
    made it do more would fail here)."""
    box = gr.Code(language="json")
    for payload in [None, "", '{"type": "object"}', "x" * 100_000, 5, {"a": 1}, ["a"]]:
        assert box.preprocess(payload) is payload


def test_stop_closes_the_answer_inside_at_once():
    ended: list[str] = []

    async def answer(message):
        try:
            while True:
                yield message
                await asyncio.sleep(0)
        finally:
            ended.append(message)

    with gr.Blocks() as demo:
        box, out = MessageBox(), gr.Textbox()
        box.submit(answer, box, out)
    assert preprocess_on_the_loop(demo) == 1
    wrapped = next(iter(demo.fns.values())).fn

    async def first_then_stop():
        updates = wrapped(7)
        first = await anext(updates)
        await updates.aclose()  # what Gradio does to the event's generator on Stop
        return first

    assert asyncio.run(first_then_stop()) == "7"
    assert ended == ["7"]


@pytest.mark.parametrize("inputs", ["a file", "only state", "a plain textbox"])
def test_other_events_are_left_as_gradio_made_them(inputs):
    async def answer(*values):
        yield values

    with gr.Blocks() as demo:
        out = gr.Textbox()
        source = {"a file": [MessageBox(), gr.File()], "only state": [gr.State()],
                  "a plain textbox": [gr.Textbox()]}[inputs]
        gr.Button().click(answer, source, out)
    block_fn = next(iter(demo.fns.values()))
    assert preprocess_on_the_loop(demo) == 0
    assert block_fn.preprocess is True and block_fn.fn is answer


def test_gradio_reads_the_same_type_hints_already_evaluated(openai_server):
    import typing

    from gradio import utils

    from app import build_demo

    demo = build_demo(server_settings(openai_server))
    chat = next(block_fn.fn for block_fn in demo.fns.values() if block_fn.api_name == "chat")
    hints = utils.get_type_hints(chat)  # as Gradio reads them at every event
    assert hints == typing.get_type_hints(inspect.unwrap(chat)) and hints["request"] is gr.Request
    assert isinstance(inspect.unwrap(chat).__annotations__["request"], str)  # `from __future__ import annotations`
    assert not any(isinstance(hint, str) for hint in chat.__annotations__.values())  # evaluated once, here
