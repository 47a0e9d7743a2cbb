"""The JSON tab: ask for JSON and watch the object grow field by field.

`/json` takes (request, schema, temperature, max tokens, your API key, model) and yields (partial
object, raw text so far, field table, note, Debug summary, chunk table, timeline).
The frame (`answer_frame`) streams the chunks through the one loop with the JSON tab's view of the answer:
the partial object, the raw text and a row per field.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import gradio as gr

from llm import Accumulator, Settings, max_concurrency
from llm.backends.backend import Backend
from llm.guards.limits import Limits, check_text
from llm.inert import inert_text
from llm.lessons.json_answer import FIELD_HEADERS, JSONAnswer, SchemaError, json_messages, parse_schema
from llm.lessons.json_modes import JSONRequest

from .answer_frame import Answer, Ask, Frame, says, wire_stop
from .debug_outputs import STREAMING
from .inputs import CheckedTextbox
from .payloads import page_value
from .settings import chosen_model, settings_inputs

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


def json_tab(backend: Backend, defaults: Settings, frame: Frame, limits: Limits) -> None:
    """Lay out the JSON tab (inside the current Blocks) and wire `/json`."""

    def refused(text: str) -> tuple[Any, ...]:
        return None, "", [], f"⚠ {inert_text(text)}"

    @frame.answers(refused)
    async def stream_json(
        request: str, schema: str = "", temperature: float = DEFAULT_TEMPERATURE,
        max_tokens: float = defaults.default_max_tokens, api_key: str = "", model_name: str | None = None,
        http: gr.Request = None,
    ) -> Ask:
        """Stream a JSON answer; yields (object, raw text, fields, note, Debug summary, chunk table, timeline)."""
        try:
            if schema is not None and not isinstance(schema, str):
                raise SchemaError("The schema must be JSON text.")
            # Off the event loop: a schema is bounded in size, but still the work of a stranger.
            answer = JSONAnswer(await asyncio.to_thread(parse_schema, schema or ""))
        except SchemaError as error:
            return Ask(refused=str(error))

        def start(model: Any, secrets: tuple[str | None, ...]) -> Answer:
            # The first JSON mode this server takes (json_schema, json_object, the prompt alone): llm/lessons/json_modes.py.
            asking = JSONRequest(model, json_messages(request, answer.schema), answer.schema,
                                 temperature=float(temperature), max_tokens=limits.cap(max_tokens),
                                 **chosen_model(model_name, backend))
            return Answer(asking.astream(), JSONView(answer, asking))

        return Ask(http, api_key, start=start, checks=lambda session: check_text(model_name, "model name")
                   or limits.refuse(session, request, temperature, max_tokens, what="request"))

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
                    settings = settings_inputs(backend, defaults, limits, temperature=DEFAULT_TEMPERATURE, prefix="json-")
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
    event = gr.on([run.click, request.submit], stream_json,
                  [request, schema, settings.temperature, settings.max_tokens, settings.api_key, settings.model],
                  [value, raw, fields, status, *frame.debug.outputs], api_name="json", show_progress="minimal",
                  concurrency_limit=max_concurrency(defaults))
    wire_stop(stop.click, event, frame.debug, JSONView.source, [status], says(JSON_STOPPED))


class JSONView:
    """The JSON tab's view of an answer: (the object so far, the raw text, a row per field, a note)."""

    source = "JSON tab"

    def __init__(self, answer: JSONAnswer, asking: JSONRequest) -> None:
        self.answer = answer
        self.asking = asking

    def shown(self) -> Any:
        """The object as the page may show it (`page_value`); the answer's own value is unchanged."""
        return page_value(self.answer.value, self.answer.parser.huge_numbers)

    def streaming(self, acc: Accumulator) -> tuple[Any, ...]:
        self.answer.update(acc.records)
        status = f"{STREAMING} {len(self.answer.parser.fields)} values so far."
        return self.shown(), acc.text, self.answer.rows(), status

    async def complete(self, acc: Accumulator) -> tuple[Any, ...]:
        note = f"{await asyncio.to_thread(self.answer.finish, acc)} {self.asking.note}"  # the schema check: a child process
        return self.shown(), acc.text, self.answer.rows(), inert_text(note)

    def failed(self, acc: Accumulator, error: str) -> tuple[Any, ...]:
        note = self.answer.fail(error, acc)  # first: it takes in the chunks that came with the error
        return self.shown(), acc.text, self.answer.rows(), inert_text(note)
