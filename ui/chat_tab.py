"""The Chat tab: the answer grows token by token; its chunks go to the Debug tab.

`/chat` takes (message, system prompt, temperature, max tokens, model, your API key, token
probabilities: the alternatives to list for each token, 0 = off) and yields (answer so far, Debug
summary, chunk table, timeline). Every input is checked by
`llm.guards.limits` before anything goes upstream; then the model's `astream` goes through the one
loop, `stream_to_page`, with the chat's view of the answer.
"""

from __future__ import annotations

import asyncio
from contextlib import aclosing
from typing import Any

import gradio as gr

from llm import Settings, max_concurrency, readable_error, to_messages
from llm.backends.backend import Backend
from llm.lessons.branching import Origin
from llm.backends.context import fit_for_model, has_window
from llm.guards.limits import Limits, check_text, check_top_logprobs
from llm.stream.token_probs import MAX_TOP

from .chat_view import ChatView, note
from .debug_outputs import DebugOutputs
from .inputs import CheckedSlider, CheckedTextbox, MessageBox
from .stream_to_page import stop_answer, stream_to_page

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


def chat_tab(backend: Backend, defaults: Settings, debug: DebugOutputs, limits: Limits) -> gr.ChatInterface:
    """Lay out the Chat tab (inside the current Blocks) and return its ChatInterface."""
    configured = backend.configured_model
    local = backend.settings is not None and backend.settings.provider == "local"
    examples = [example for example in EXAMPLES if not (local and example is THINKING)]

    async def chat(
        message: str, history: list[dict], system_prompt: str, temperature: float, max_tokens: float,
        model_name: str | None = None, api_key: str = "", top_logprobs: float | None = 0,
        request: gr.Request = None,
    ):
        """Stream the model's answer; yields (answer so far, Debug summary, chunk table, timeline)."""
        session = getattr(request, "session_hash", None) or ""
        model, problem = backend.model_for(api_key)
        refusal = (problem or check_text(system_prompt, "system prompt") or check_text(model_name, "model name")
                   or check_top_logprobs(top_logprobs)
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
            top = int(top_logprobs or 0)
            probabilities = {"logprobs": True, "top_logprobs": top} if top else {}  # off: not in the request at all
            bound = model.bind(temperature=float(temperature), max_tokens=tokens, **chosen, **probabilities)
            secrets = (backend.secret, api_key)
            try:  # the local model's window is small: leave out the oldest turns rather than fail. Counting
                # tokens takes a while, so in a thread; a model with no window skips the hop (and its queue).
                fitted = (await asyncio.to_thread(fit_for_model, bound, messages, tokens) if has_window(bound)
                          else fit_for_model(bound, messages, tokens))
            except Exception as error:
                yield note(readable_error(error, *secrets)), *debug.unchanged()
                return
            left_out = fitted.note()
            view = ChatView(notes=[note(left_out)] if left_out else [])
            updates = stream_to_page(bound.astream(fitted.messages), view, secrets=secrets,
                                     notes=[f"Context: {left_out}"] if left_out else [],
                                     origin=Origin(bound, fitted.messages, top, secrets))
            # aclosing: Stop closes `chat`, which must close the loop (and the request upstream) at once.
            async with aclosing(updates):
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
                ModelPicker.of(backend),
                CheckedTextbox("", type="password", label="Your API key (optional)", elem_id="api-key",
                               render=False, visible=backend.takes_keys,
                               info="Used for your messages only: sent with each one, never stored or shown."),
                CheckedSlider(0, MAX_TOP, value=0, step=1, label="Token probabilities", elem_id="top-logprobs",
                              render=False, info="How many alternatives to list for each token; 0 = off. Debug "
                              "then shades every token by its probability, and lets you branch from one."),
            ],
            additional_inputs_accordion=gr.Accordion("Settings", open=backend.model is None and backend.takes_keys,
                                                     render=False),
            additional_outputs=debug.outputs,
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
    chat_ui.textbox.stop(stop_answer(ChatView.source), [debug.latest], debug.marks, queue=False,
                         api_visibility="undocumented")
    return chat_ui


class ModelPicker(gr.Dropdown):
    """The server's models, the configured one first; another name may be typed. The list is read
    when the app launches (`Backend.start`), not when this module is imported."""

    is_template = True
    _backend: Backend

    @classmethod
    def of(cls, backend: Backend) -> ModelPicker:
        picker = cls([backend.configured_model], value=backend.configured_model, allow_custom_value=True,
                     label="Model", elem_id="model-picker", render=False)
        picker._backend = backend  # not a constructor argument: Gradio would put it in the page's config
        return picker

    def get_config(self, cls: Any = None) -> dict[str, Any]:
        """Called when the page's config is made (again at launch): the list as read by then."""
        listed = self._backend.listed_models
        self.choices = [(name, name) for name in listed or [self._backend.configured_model]]
        if listed:
            self.info = None
        elif not self._backend.takes_keys:  # the bundled model: no server was set up to ask
            self.info = "The bundled model, offline on this machine's CPU (no server, no key)."
        else:
            self.info = "The server did not list its models; type a model name."
        return super().get_config(cls) if cls is not None else super().get_config()
