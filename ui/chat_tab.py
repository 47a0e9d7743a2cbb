"""The Chat tab: the answer grows token by token; its chunks go to the Debug tab.

`/chat` takes (message, system prompt, temperature, max tokens, model, your API key) and
yields (answer so far, Debug summary, chunk table, timeline). Every input is checked by
`llm.limits` before anything goes upstream.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

import gradio as gr

from llm import Accumulator, Settings, max_concurrency, readable_error, to_messages
from llm.accumulator import arecords, record_shows_text
from llm.backend import Backend
from llm.context import fit_for_model, has_window
from llm.errors import error_detail
from llm.inert import inert_markdown, inert_text
from llm.limits import Limits, check_text
from llm.pacing import paced
from llm.report import DebugReport

from .debug_updates import COMPLETE, DebugUpdates, mark_stopped
from .inputs import CheckedSlider, CheckedTextbox, MessageBox

if TYPE_CHECKING:
    from .debug_tab import DebugTab

log = logging.getLogger("app")

FRAME_SECONDS = 1 / 60  # chunks closer together than a screen refresh share one page update


def chat_tab(
    backend: Backend, defaults: Settings, debug: DebugTab, limits: Limits, model_names: list[str] | None = None,
) -> gr.ChatInterface:
    """Lay out the Chat tab (inside the current Blocks) and return its ChatInterface.
    `model_names`: the server's models, the configured one first (None: a text box instead)."""
    configured = getattr(backend.model, "model_name", None) or (defaults.openai_model if backend.takes_keys else "")

    async def chat(
        message: str, history: list[dict], system_prompt: str, temperature: float, max_tokens: float,
        model_name: str | None = None, api_key: str = "", request: gr.Request = None,
    ):
        """Stream the model's answer; yields (answer so far, Debug summary, chunk table, timeline)."""
        session = getattr(request, "session_hash", None) or ""
        model, problem = backend.model_for(api_key)
        refusal = (problem or check_text(system_prompt, "system prompt") or check_text(model_name, "model name")
                   or limits.refuse(session, message, temperature, max_tokens, history))
        if refusal:
            yield note(refusal), *debug.unchanged()
            return
        with limits.one.answer(session) as busy:
            if busy:
                yield note(busy), *debug.unchanged()
                return
            messages = to_messages([*history, {"role": "user", "content": message}], system_prompt)
            chosen = {"model": model_name.strip()} if model_name and model_name.strip() != configured else {}
            tokens = limits.cap(max_tokens)
            bound = model.bind(temperature=float(temperature), max_tokens=tokens, **chosen)
            # aclosing: Stop closes `chat`, which must close `answer` (and the request upstream) at once.
            async with aclosing(answer(bound, messages, tokens, debug, (backend.secret, api_key))) as updates:
                async for update in updates:
                    yield update

    with gr.Tab("Chat"):
        chat_ui = gr.ChatInterface(
            chat,
            additional_inputs=[
                # render=False: ChatInterface places them in its accordion under the chat.
                CheckedTextbox(defaults.system_prompt, label="System prompt", lines=2, render=False),
                CheckedSlider(0.0, 2.0, value=defaults.default_temperature, step=0.05, label="Temperature",
                              render=False),
                CheckedSlider(1, limits.token_ceiling, value=limits.cap(defaults.default_max_tokens),
                              step=1, label="Max tokens", render=False),
                model_picker(configured, model_names),
                CheckedTextbox("", type="password", label="Your API key (optional)", elem_id="api-key",
                               render=False, visible=backend.takes_keys,
                               info="Used for your messages only: sent with each one, never stored or shown."),
            ],
            additional_inputs_accordion=gr.Accordion("Settings", open=backend.model is None and backend.takes_keys,
                                                     render=False),
            additional_outputs=debug.outputs,
            textbox=MessageBox(placeholder="Type a message...", elem_id="chat-input", render=False,
                                   show_label=False, submit_btn=True, stop_btn=True),
            api_name="chat",
            concurrency_limit=max_concurrency(defaults),
            editable=True,
            fill_height=True,
            analytics_enabled=False,
        )
    chat_ui.textbox.stop(mark_stopped, **debug.on_stop, queue=False, api_visibility="undocumented")
    return chat_ui


async def answer(model: Any, messages: list, max_tokens: int, debug: DebugTab, secrets: tuple):
    """The streaming half of `chat`: fit the context, stream through the one loop, say what went wrong."""
    acc, report = Accumulator(), DebugReport()
    try:  # the local model's window is small: leave out the oldest turns rather than fail. Counting
        # tokens takes a while, so in a thread; a model with no window skips the hop (and its queue).
        fitted = (await asyncio.to_thread(fit_for_model, model, messages, max_tokens) if has_window(model)
                  else fit_for_model(model, messages, max_tokens))
    except Exception as error:
        yield note(readable_error(error, *secrets)), *debug.unchanged()
        return
    left_out = fitted.note()
    notes = [note(left_out)] if left_out else []
    report.notes = [f"Context: {left_out}"] if left_out else []
    debug_updates = DebugUpdates(report, acc)
    try:
        # aclosing: when Gradio closes this generator (Stop), close the stream now, not at GC.
        steps = arecords(model.astream(fitted.messages), acc)
        async with aclosing(paced(steps, FRAME_SECONDS, shows=record_shows_text)) as updates:
            async for _ in updates:
                report.update(acc.records)
                yield shown(acc, notes), *debug_updates.streaming()
    except Exception as error:
        text = readable_error(error, *secrets)
        log.warning("stream failed: %s", error_detail(error, *secrets))
        report.update(acc.records)
        yield [*as_messages(shown(acc, notes, done=True)), note(text)], *debug_updates.final(f"✗ {inert_text(text)}")
        return
    report.update(acc.records)
    yield shown(acc, notes, done=True), *debug_updates.final(COMPLETE, acc.text)


def note(text: str) -> dict:
    """A message the page shows but the model never sees (see `to_messages`); its text may quote a
    visitor's input or a server's error, so it is shown inert."""
    return {"role": "assistant", "content": inert_text(text), "metadata": {"title": "⚠ Note"}}


def shown(acc: Accumulator, notes: list[dict], done: bool = False) -> str | list[dict]:
    """The answer as the chat shows it: plain text, or after notes such as "turns left out" and a
    collapsible "Thinking" message. The thinking has a title, so it is never sent back to the model.
    The model's text keeps its Markdown but shows no image or HTML tag (`inert_markdown`)."""
    answer = inert_markdown(acc.answer)
    if not notes and not acc.thinking:
        return answer
    messages = list(notes)
    if acc.thinking:
        status = "done" if acc.answer or done else "pending"
        messages.append({"role": "assistant", "content": inert_markdown(acc.thinking),
                         "metadata": {"title": "Thinking", "status": status}})
    if acc.answer or done or not acc.thinking:
        messages.append({"role": "assistant", "content": answer})
    return messages


def as_messages(shown_value: str | list[dict]) -> list[dict]:
    """`shown`'s value as a list of messages, leaving out an empty answer."""
    messages = shown_value if isinstance(shown_value, list) else [{"role": "assistant", "content": shown_value}]
    return [m for m in messages if m["content"] or m.get("metadata")]


def model_picker(configured: str, model_names: list[str] | None) -> gr.components.Component:
    """A dropdown of the server's models (another name may be typed), or a text box when there is no list."""
    if model_names:
        return gr.Dropdown(model_names, value=model_names[0], allow_custom_value=True, label="Model",
                           elem_id="model-picker", render=False)
    return gr.Textbox(configured, label="Model", elem_id="model-picker", render=False,
                      info="The server did not list its models; type a model name.")
