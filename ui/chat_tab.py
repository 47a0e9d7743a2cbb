"""The Chat tab: the answer grows token by token; its chunks go to the Debug tab.

`/chat` takes (message, system prompt, temperature, max tokens, model, your API key, token
probabilities: the alternatives to list for each token, 0 = off) and yields (answer so far, Debug
summary, chunk table, timeline). Every input is checked by `llm.guards.limits` before anything goes
upstream; then the frame (`answer_frame`) streams the model's `astream` with the chat's view.
"""

from __future__ import annotations

import asyncio
from typing import Any

import gradio as gr

from llm import Settings, max_concurrency, to_messages
from llm.backends.backend import Backend
from llm.backends.context import fit_for_model, has_window
from llm.guards.limits import Limits, check_text, check_top_logprobs
from llm.lessons.branching import Origin
from llm.stream.token_probs import MAX_TOP

from .answer_frame import Answer, Ask, Frame, wire_stop
from .chat_view import ChatView, note
from .inputs import CheckedSlider, MessageBox
from .settings import chosen_model, settings_inputs

# (message, label): shown in the empty chat; a click sends the message with the current settings.
# Offline, Thinking is left out: SmolLM2-135M has no separate thoughts to show.
EXAMPLES = [
    ("Who's Elon Musk?", "Who's Elon Musk? (the how-to's question)"),
    ("Write a long story about a lighthouse keeper and the sea, in ten paragraphs.",
     "A long answer: ten paragraphs, hundreds of chunks"),
    THINKING := ("How many times does the letter r appear in 'strawberry'? Think it through step by step before you "
                 "answer.", "Thinking: a reasoning model shows its thoughts apart from the answer"),
    ("Give me a Markdown table of three planets with their diameter and a fun fact.",
     "Markdown: a table that takes shape as it streams"),
]


def chat_tab(backend: Backend, defaults: Settings, frame: Frame, limits: Limits) -> gr.ChatInterface:
    """Lay out the Chat tab (inside the current Blocks) and return its ChatInterface."""
    local = backend.settings is not None and backend.settings.provider == "local"
    examples = [example for example in EXAMPLES if not (local and example is THINKING)]

    @frame.answers(refused=lambda text: (note(text),))
    def chat(
        message: str, history: list[dict], system_prompt: str, temperature: float, max_tokens: float,
        model_name: str | None = None, api_key: str = "", top_logprobs: float | None = 0,
        request: gr.Request = None,
    ) -> Ask:
        """Stream the model's answer; yields (answer so far, Debug summary, chunk table, timeline)."""

        async def start(model: Any, secrets: tuple[str | None, ...]) -> Answer:
            messages = to_messages([*history, {"role": "user", "content": message}], system_prompt)
            tokens = limits.cap(max_tokens)
            top = int(top_logprobs or 0)
            probabilities = {"logprobs": True, "top_logprobs": top} if top else {}  # off: not in the request at all
            bound = model.bind(temperature=float(temperature), max_tokens=tokens, **chosen_model(model_name, backend),
                               **probabilities)
            # The local model's window is small: leave out the oldest turns rather than fail. Counting tokens
            # takes a while, so in a thread; a model with no window skips the hop (and its queue).
            fitted = (await asyncio.to_thread(fit_for_model, bound, messages, tokens) if has_window(bound)
                      else fit_for_model(bound, messages, tokens))
            left_out = fitted.note()
            return Answer(bound.astream(fitted.messages), ChatView(notes=[note(left_out)] if left_out else []),
                          notes=[f"Context: {left_out}"] if left_out else [],
                          origin=Origin(bound, fitted.messages, top, secrets))

        return Ask(request, api_key, start=start, checks=lambda session: (
            check_text(system_prompt, "system prompt") or check_text(model_name, "model name")
            or check_top_logprobs(top_logprobs) or limits.refuse(session, message, temperature, max_tokens, history)))

    settings = settings_inputs(backend, defaults, limits, system_prompt=defaults.system_prompt, render=False)
    with gr.Tab("Chat"):
        chat_ui = gr.ChatInterface(
            chat,
            additional_inputs=[
                # render=False: ChatInterface places them in its accordion under the chat.
                settings.system_prompt, settings.temperature, settings.max_tokens, settings.model, settings.api_key,
                CheckedSlider(0, MAX_TOP, value=0, step=1, label="Token probabilities", elem_id="top-logprobs",
                              render=False, info="How many alternatives to list for each token; 0 = off. Debug "
                              "then shades every token by its probability, and lets you branch from one."),
            ],
            additional_inputs_accordion=gr.Accordion("Settings", open=backend.model is None and backend.takes_keys,
                                                     render=False),
            additional_outputs=frame.debug.outputs,
            textbox=MessageBox(placeholder="Type a message...", elem_id="chat-input", render=False,
                               show_label=False, submit_btn=True, stop_btn=True),
            # Only the message: the settings keep what the visitor chose. Never cached: that would run the
            # model at start-up (Spaces' default).
            examples=[[message, *[None] * 6] for message, _ in examples],
            example_labels=[label for _, label in examples],
            cache_examples=False,
            api_name="chat",
            concurrency_limit=max_concurrency(defaults),
            editable=True,
            fill_height=True,
            analytics_enabled=False,
        )
    # ChatInterface cancels its own event on Stop; this marks the answer stopped.
    wire_stop(chat_ui.textbox.stop, None, frame.debug, ChatView.source)
    return chat_ui
