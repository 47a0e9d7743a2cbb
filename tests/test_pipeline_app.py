"""The Pipeline tab's `/pipeline` endpoint on the real app, driven with gradio_client against the
scripted server: what streams through each preset chain, in event order."""

from __future__ import annotations

import json
import time

import httpx
from gradio_client import Client

from llm.guards.limits import OneAtATime
from llm.inert import inert_text
from tests.conftest import SECRET
from tests.json_documents import pieces_of
from tests.openai_server import Scenario
from tests.test_app import cancel_once_streaming, table_texts

TWELVE = ["China", "India", "United States", "Indonesia", "Pakistan", "Nigeria", "Brazil", "Bangladesh",
          "Russia", "Mexico", "Ethiopia", "Japan"]
COUNTRIES = json.dumps({"countries": [{"name": n, "population": 100_000_000 + i} for i, n in enumerate(TWELVE)]})
MODEL_END = "on_chat_model_end"


def run_pipeline(url: str, question: str, preset: str, *settings, client: Client | None = None):
    """One /pipeline call to the end; every output tuple the client saw, in order."""
    job = (client or Client(url, verbose=False)).submit(question, preset, *settings, api_name="/pipeline")
    job.result(timeout=60)
    return job.outputs()


def rows(events) -> list[list]:
    return events["data"] if isinstance(events, dict) else events


def model_ended(events) -> bool:
    return any(row[2] == MODEL_END for row in rows(events))


def test_the_first_output_is_the_chain_output_so_far_then_every_steps_events(app_url, server):
    server.scenario = Scenario(rate=50)
    outputs = run_pipeline(app_url, "Who's Elon Musk?", "model only")
    texts = [out[0] for out in outputs if out[0]]
    assert texts[-1] == "w0 w1 w2 w3 w4" and len(set(texts)) >= 3
    assert all(later.startswith(earlier) for earlier, later in zip(texts, texts[1:]))
    output, events, _, verdict, summary, table, _ = outputs[-1]
    steps = {row[1] for row in rows(events)}
    assert {"model only", "ChatPromptTemplate", "ChatOpenAICompatible", "StrOutputParser"} <= steps
    kinds = [row[2] for row in rows(events) if row[1] == "StrOutputParser"]
    assert kinds[0] == "on_parser_start" and kinds[-1] == "on_parser_end" and kinds.count("on_parser_stream") >= 5
    times = [row[0] for row in rows(events)]
    assert times == sorted(times)
    assert "streams: the first output came" in verdict
    # The model's chunks, in the Debug tab, as for any answer.
    assert "".join(table_texts(table)) == output and "Sum check ✓" in summary and "Pipeline tab" in summary


def test_a_generator_streams_names_while_the_model_writes_and_a_plain_function_only_after(app_url, server):
    server.scenario = Scenario(tokens=pieces_of(COUNTRIES, 4), rate=100)
    generator = run_pipeline(app_url, "twelve countries", "JSON parser + generator")
    before_end = [out[0] for out in generator if out[0] and not model_ended(out[1])]
    growing = list(dict.fromkeys(json.dumps(names) for names in before_end))
    assert len(growing) >= 5
    lists = [json.loads(names) for names in growing]
    assert all(later[: len(earlier)] == earlier and len(later) > len(earlier) for earlier, later in zip(lists, lists[1:]))
    assert generator[-1][0] == TWELVE and "streams: the first output came" in generator[-1][3]

    server.reset(Scenario(tokens=pieces_of(COUNTRIES, 4), rate=100))
    plain = run_pipeline(app_url, "twelve countries", "JSON parser + plain function")
    with_names = [out for out in plain if out[0]]
    assert with_names and all(model_ended(out[1]) for out in with_names)
    assert any(not model_ended(out[1]) for out in plain)  # it did stream updates before: only without names
    assert plain[-1][0] == TWELVE
    assert "does not stream: `extract_country_names` waits for its whole input" in plain[-1][3]


def test_side_by_side_both_last_steps_get_the_same_answer_and_only_one_streams(app_url, server):
    server.scenario = Scenario(tokens=pieces_of(COUNTRIES, 4), rate=100)
    outputs = run_pipeline(app_url, "twelve countries", "plain function vs generator (side by side)")
    assert outputs[-1][0] == {"plain function": TWELVE, "generator": TWELVE}
    assert len(server.requests) == 1  # one answer of the model, fed to both
    before_end = [out[0] for out in outputs if out[0] and not model_ended(out[1])]
    assert before_end and all("plain function" not in value for value in before_end)
    assert any(len(value.get("generator", [])) >= 5 for value in before_end)
    verdict = outputs[-1][3]
    assert "**plain function** does not stream" in verdict and "**generator** streams" in verdict


def test_a_retriever_answers_once_before_the_model_starts_and_the_output_then_streams(app_url, server):
    server.scenario = Scenario(rate=20)  # 50 ms apart: at 20 ms, a busy CI once saw two states of the five
    outputs = run_pipeline(app_url, "Why does a plain function break streaming?", "retriever first")
    events = rows(outputs[-1][1])
    retriever = [i for i, row in enumerate(events) if row[1] == "KeywordRetriever"]
    assert [events[i][2] for i in retriever] == ["on_retriever_start", "on_retriever_end"]
    model_start = next(i for i, row in enumerate(events) if row[2] == "on_chat_model_start")
    assert retriever[-1] < model_start
    assert "A function in a chain" in events[retriever[-1]][3]
    prompt = server.requests[-1]["messages"][0]["content"]
    assert "A plain function in a chain waits for its whole input" in prompt
    texts = [out[0] for out in outputs if out[0] and not model_ended(out[1])]
    assert len(set(texts)) >= 3
    assert "`KeywordRetriever` answered once" in outputs[-1][3] and "streams" in outputs[-1][3]


def test_a_failing_step_is_named_with_what_it_had_produced(app_url, server):
    server.scenario = Scenario(tokens=pieces_of(COUNTRIES, 4), rate=200, drop_after=40)
    output, events, _, verdict, summary, *_ = run_pipeline(app_url, "twelve countries", "JSON parser")[-1]
    assert verdict.startswith("✗ `ChatOpenAICompatible` failed after") and "outputs (the last:" in verdict
    assert output["countries"][0] == {"name": "China", "population": 100_000_000}  # what arrived stays
    assert SECRET not in json.dumps([output, rows(events), verdict, summary])

    server.reset(Scenario(status=500, error_message="the server broke"))
    verdict = run_pipeline(app_url, "twelve countries", "model only")[-1][3]
    assert verdict.startswith("✗ `ChatOpenAICompatible` failed before it produced anything")


def test_stop_closes_the_model_request(app_url, server):
    server.scenario = Scenario(tokens=pieces_of(COUNTRIES, 2), rate=20)
    job = Client(app_url, verbose=False).submit("twelve countries", "JSON parser + generator", api_name="/pipeline")
    cancel_once_streaming(job, server, updates=3)


def test_inputs_are_checked_before_anything_goes_upstream(app_url, server):
    client = Client(app_url, verbose=False)
    for question, preset, settings, says in [
        ("", "model only", (), "Type a question first."),
        ("hi", "no such chain", (), "Choose a preset: model only, JSON parser"),
        ("hi", "model only", (0.5, "lots"), "Max tokens must be a whole number"),
        ("x" * 100_000, "model only", (), "this app takes at most"),
    ]:
        verdict = run_pipeline(app_url, question, preset, *settings, client=client)[-1][3]
        assert verdict.startswith("⚠") and says in verdict
    assert server.requests == []


def test_the_events_can_be_exported_as_json_lines(app_url, server):
    server.scenario = Scenario(rate=0)
    client = Client(app_url, verbose=False)
    nothing = client.predict(api_name="/export_events")
    assert "Nothing to export yet" in nothing[1]
    events = rows(run_pipeline(app_url, "hi", "JSON parser + plain function", client=client)[-1][1])
    path, note = client.predict(api_name="/export_events")
    lines = [json.loads(line) for line in open(path, encoding="utf-8")]
    assert note == f"Exported {len(events)} events." and len(lines) == len(events)
    assert [[line["ms"], line["step"], line["event"], line["carried"]] for line in lines] == events
    assert all(line["run_id"] and isinstance(line["parent_ids"], list) for line in lines)


def test_the_file_box_is_hidden_until_the_first_export(app_url):
    config = httpx.get(f"{app_url}config").json()
    box = next(c for c in config["components"] if c.get("props", {}).get("elem_id") == "pipeline-files")
    assert box["props"]["visible"] is False  # an export's update makes it visible (the browser test sees it)


def test_a_chain_comes_with_its_question_unless_the_visitor_wrote_one():
    from llm.lessons.pipelines import PRESETS
    from ui.pipeline_tab import chosen_chain

    generator = PRESETS["JSON parser + generator"]
    assert chosen_chain(generator.name, PRESETS["model only"].question) == (generator.teaches, generator.question)
    assert chosen_chain(generator.name, "  ") == (generator.teaches, generator.question)
    teaches, question = chosen_chain(generator.name, "Five countries of Africa")
    assert teaches == generator.teaches and question == {"__type__": "update"}  # gr.skip(): the question stays


def test_the_page_lists_the_pipeline_tab_and_its_api(app_url):
    info = httpx.get(f"{app_url}gradio_api/info").json()
    named = info["named_endpoints"]["/pipeline"]
    assert [p["parameter_name"] for p in named["parameters"]][:2] == ["question", "preset"]
    assert all(p["parameter_has_default"] for p in named["parameters"][2:])


def test_json_presets_take_the_json_mode_the_server_takes(app_url, server, fresh_memory):
    server.scenario = Scenario(tokens=pieces_of(COUNTRIES, 8), refuse_formats=("json_schema",))
    output, events, *_ = run_pipeline(app_url, "twelve countries", "JSON parser + plain function")[-1]
    assert output == TWELVE
    assert [r["response_format"]["type"] for r in server.requests] == ["json_schema", "json_object"]
    assert "schema" in server.requests[-1]["response_format"]
    starts = [row[1] for row in rows(events) if row[2] == "on_chat_model_start"]
    assert starts == ["ChatOpenAICompatible", "ChatOpenAICompatible #2"]  # the refused request is its own run


def test_a_model_text_without_json_is_said_in_a_sentence_with_the_text(app_url, server):
    server.scenario = Scenario(tokens=["Sorry, ", "no JSON ", "today."])
    for preset in ["JSON parser + plain function", "JSON parser + generator", "JSON parser"]:
        output, _, _, verdict, summary, table, _ = run_pipeline(app_url, "twelve countries", preset)[-1]
        assert verdict.startswith("✗ `JsonOutputParser` failed before it produced anything: "
                                  "The model's text held no JSON: "), verdict
        assert "Sorry, no JSON today." in verdict and "UnboundLocalError" not in verdict
        assert output is None and "".join(table_texts(table)) == "Sorry, no JSON today."  # the model's answer, in Debug


def test_one_run_at_a_time_per_session(app_url, server):
    server.scenario = Scenario(tokens=pieces_of(COUNTRIES, 4), rate=40)
    client = Client(app_url, verbose=False)
    first = client.submit("twelve countries", "JSON parser", api_name="/pipeline")
    deadline = time.monotonic() + 20
    while len(first.outputs()) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    second = run_pipeline(app_url, "again", "model only", client=client)[-1][3]
    assert second == f"⚠ {inert_text(OneAtATime.BUSY)}"
    assert first.result(timeout=60)[3].startswith("✓") and len(server.requests) == 1
