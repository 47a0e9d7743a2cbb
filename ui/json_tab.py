"""The JSON tab: ask for JSON and watch the object grow field by field.

`/json` takes (request, schema, temperature, max tokens) and yields (partial
object, raw text so far, field table, note, Debug summary, chunk table, timeline).
The chunks go through the same accumulator as the chat, and to the Debug tab.
"""

from __future__ import annotations

import asyncio
import json
import logging
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

import gradio as gr

from llm import Accumulator, Settings, max_concurrency, readable_error
from llm.accumulator import arecords, record_shows_text
from llm.backend import Backend
from llm.limits import Limits
from llm.errors import error_detail
from llm.inert import inert_text
from llm.json_answer import FIELD_HEADERS, JSONAnswer, SchemaError, json_messages, parse_schema
from llm.json_modes import JSONRequest
from llm.pacing import paced
from llm.report import DebugReport

from .chat_tab import FRAME_SECONDS
from .inputs import CheckedSlider, CheckedTextbox
from .debug_updates import COMPLETE, STREAMING, DebugUpdates, mark_stopped

if TYPE_CHECKING:
    from .debug_tab import DebugTab

log = logging.getLogger("app")

JSON_STOPPED = "■ Stopped by you. The object shows what had arrived; fields still marked *streaming* never finished."
DEFAULT_TEMPERATURE = 0.2  # JSON wants the likeliest tokens more than variety


def _array_of(item: dict, most: int) -> dict:
    return {"type": "array", "maxItems": most, "items": item}


def _strings(*names: str, longest: int = 60) -> dict:
    return {name: {"type": "string", "maxLength": longest} for name in names}


# Small enough for the bundled 135M model to finish within the default Max tokens (the limits
# become part of llama.cpp's grammar), and plain JSON Schema for any other server.
SCHEMAS: dict[str, dict | None] = {
    "Countries": {
        "type": "object",
        "properties": {"countries": _array_of({
            "type": "object",
            "properties": {**_strings("name", "capital", longest=40), "population": {"type": "integer"}},
            "required": ["name", "capital", "population"],
        }, 3)},
        "required": ["countries"],
    },
    "Person": {
        "type": "object",
        "properties": {**_strings("name"), "born": {"type": "integer"},
                       "known_for": _array_of({"type": "string", "maxLength": 80}, 3), "alive": {"type": "boolean"}},
        "required": ["name", "born", "known_for", "alive"],
    },
    "Recipe": {
        "type": "object",
        "properties": {**_strings("title"), "servings": {"type": "integer"},
                       "ingredients": _array_of({"type": "object", "properties": _strings("item", "amount", longest=40),
                                                 "required": ["item", "amount"]}, 5),
                       "steps": _array_of({"type": "string", "maxLength": 120}, 4)},
        "required": ["title", "servings", "ingredients", "steps"],
    },
    "None (JSON mode)": None,
}
EXAMPLES = [
    ("Three countries with their capital and population", "Countries"),
    ("Ada Lovelace: born when, known for what, and is she alive?", "Person"),
    ("A simple pancake recipe", "Recipe"),
]


def schema_text(name: str) -> str:
    schema = SCHEMAS.get(name)
    return json.dumps(schema, indent=2, ensure_ascii=False) if schema else ""


def json_tab(backend: Backend, defaults: Settings, debug: DebugTab, limits: Limits) -> None:
    """Lay out the JSON tab (inside the current Blocks) and wire `/json`."""

    async def stream_json(
        request: str, schema: str = "", temperature: float = DEFAULT_TEMPERATURE,
        max_tokens: float = defaults.default_max_tokens, api_key: str = "", http: gr.Request = None,
    ):
        """Stream a JSON answer; yields (object, raw text, fields, note, Debug summary, chunk table, timeline)."""
        nothing, session = (None, "", []), getattr(http, "session_hash", None) or ""
        model, problem = backend.model_for(api_key)
        try:
            if schema is not None and not isinstance(schema, str):
                raise SchemaError("The schema must be JSON text.")
            # Off the event loop: a schema is bounded in size, but still the work of a stranger.
            answer = JSONAnswer(await asyncio.to_thread(parse_schema, schema or ""))
            refusal = problem or limits.refuse(session, request, temperature, max_tokens, what="request")
        except SchemaError as error:
            refusal = str(error)
        if refusal:
            yield *nothing, f"⚠ {inert_text(refusal)}", *debug.unchanged()
            return
        with limits.one.answer(session) as busy:
            if busy:
                yield *nothing, f"⚠ {inert_text(busy)}", *debug.unchanged()
                return
            async with aclosing(_stream(model, answer, request, limits.cap(max_tokens), float(temperature), debug,
                                        (backend.secret, api_key))) as updates:
                async for update in updates:
                    yield update

    with gr.Tab("JSON"):
        gr.Markdown(
            "Ask for JSON and watch the object grow before the JSON is complete. A number, `true` or a key "
            "appears once it is complete; a string grows as it is written. The field table says which values "
            "are complete, and when each was first seen and finished (ms since the request)."
        )
        with gr.Row():
            with gr.Column(scale=2):
                request = CheckedTextbox(label="Request", lines=2, elem_id="json-request",
                                     placeholder="What should the JSON describe?")
                preset = gr.Dropdown(list(SCHEMAS), value="Countries", label="Schema preset", elem_id="json-preset")
                with gr.Accordion("JSON Schema (edit it, or clear it for plain JSON mode)", open=False):
                    schema = gr.Code(schema_text("Countries"), language="json", lines=8, max_lines=16,
                                     interactive=True, show_label=False, elem_id="json-schema")
                with gr.Accordion("Settings", open=False):
                    temperature = CheckedSlider(0.0, 2.0, value=DEFAULT_TEMPERATURE, step=0.05, label="Temperature")
                    max_tokens = CheckedSlider(1, limits.token_ceiling, step=1, label="Max tokens",
                                               value=limits.cap(defaults.default_max_tokens))
                    api_key = CheckedTextbox("", type="password", label="Your API key (optional)", visible=backend.takes_keys,
                                             info="Used for this request only: never stored or shown.")
                with gr.Row():
                    run = gr.Button("Stream JSON", variant="primary", elem_id="json-run")
                    stop = gr.Button("Stop", variant="stop", elem_id="json-stop")
                gr.Examples([list(example) for example in EXAMPLES], [request, preset], label="Example requests")
            with gr.Column(scale=3):
                status = gr.Markdown("", elem_id="json-status")
                value = gr.JSON(label="The object so far", open=True, elem_id="json-object")
                raw = gr.Code(label="Raw text so far", language="json", interactive=False, lines=3, max_lines=8,
                              wrap_lines=True, elem_id="json-raw")
        fields = gr.Dataframe(headers=FIELD_HEADERS, value=[], interactive=False, wrap=True, label="Fields",
                              elem_id="json-fields")

    preset.change(schema_text, preset, schema, api_visibility="undocumented")
    event = gr.on([run.click, request.submit], stream_json, [request, schema, temperature, max_tokens, api_key],
                  [value, raw, fields, status, *debug.outputs], api_name="json", show_progress="minimal",
                  concurrency_limit=max_concurrency(defaults))
    # Cancel first, then mark: with both on one listener, the page never showed the mark.
    stop.click(None, cancels=[event], queue=False, api_visibility="undocumented").then(
        _mark_json_stopped, [status, *debug.on_stop["inputs"]], [status, *debug.on_stop["outputs"]], queue=False,
        api_visibility="undocumented")


async def _stream(model: Any, answer: JSONAnswer, request: str, max_tokens: int, temperature: float,
                  debug: DebugTab, secrets: tuple):
    """The streaming half of `stream_json`: the one loop, the partial object, and what went wrong."""
    acc, report = Accumulator(), DebugReport()
    debug_updates = DebugUpdates(report, acc)
    # The first JSON mode this server takes (json_schema, json_object, the prompt alone): see llm/json_modes.py.
    asking = JSONRequest(model, json_messages(request, answer.schema), answer.schema, temperature=temperature,
                         max_tokens=max_tokens)
    stream = asking.astream()
    try:
        # aclosing: Stop closes this generator, which closes the stream and the request upstream.
        async with aclosing(paced(arecords(stream, acc), FRAME_SECONDS, shows=record_shows_text)) as updates:
            async for _ in updates:
                answer.update(acc.records)
                report.update(acc.records)
                status = f"{STREAMING} {len(answer.parser.fields)} values so far."
                yield answer.view(), acc.text, answer.rows(), status, *debug_updates.streaming()
    except Exception as error:
        text = readable_error(error, *secrets)
        log.warning("JSON stream failed: %s", error_detail(error, *secrets))
        report.update(acc.records)
        note = answer.fail(text, acc)  # first: it takes in the chunks that came with the error
        yield answer.view(), acc.text, answer.rows(), inert_text(note), *debug_updates.final(f"✗ {inert_text(text)}")
        return
    report.update(acc.records)
    note = f"{await asyncio.to_thread(answer.finish, acc)} {asking.note}"  # the schema check: a child process
    yield (answer.view(), acc.text, answer.rows(), inert_text(note),
           *debug_updates.final(f"{COMPLETE} (JSON tab)", acc.text))


def _mark_json_stopped(status: str, summary: str, acc: Accumulator | None) -> tuple[Any, ...]:
    if not status.startswith(STREAMING):
        return gr.skip(), gr.skip(), gr.skip(), gr.skip()
    return JSON_STOPPED, *mark_stopped(summary, acc)
