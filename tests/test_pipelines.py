"""The preset chains and what a run of one records, with LangChain's fake chat models; and each
preset on the bundled model, really run (marked `local_model`)."""

from __future__ import annotations

import asyncio
import json

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.output_parsers import JsonOutputParser, StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda

from llm import Settings, build_chat_model
from llm.lessons.pipeline_run import CARRIED_CHARS, PipelineRun, Step, added, shown
from llm.lessons.pipelines import PRESETS, SIDE_BY_SIDE, extract_country_names_streaming, preset_chain
from tests.test_pipeline_app import COUNTRIES, TWELVE

EXPECTED_VERDICTS = {
    "model only": ["streams: the first output came"],
    "JSON parser": ["streams: the first output came"],
    "JSON parser + plain function": ["does not stream: `extract_country_names` waits for its whole input"],
    "JSON parser + generator": ["streams: the first output came"],
    "retriever first": ["streams: the first output came", "`KeywordRetriever` answered once"],
    "plain function vs generator (side by side)": [
        "**plain function** does not stream: `extract_country_names` waits", "**generator** streams"],
}


def watch(chain, question: str = "twelve countries", branches: tuple[str, ...] = ()) -> tuple[PipelineRun, list]:
    run = PipelineRun(branches=branches)

    async def chunks():
        return [chunk async for chunk in run.astream(chain, question)]

    return run, asyncio.run(chunks())


@pytest.mark.parametrize("name", list(PRESETS))
def test_each_preset_gets_its_own_verdict(name):
    answer = COUNTRIES if "JSON" in name or "side" in name else "Every step must stream."
    run, chunks = watch(preset_chain(name, FakeListChatModel(responses=[answer])),
                        branches=SIDE_BY_SIDE if "side" in name else ())
    verdicts = run.verdicts()
    assert len(verdicts) == len(EXPECTED_VERDICTS[name])
    assert all(said.startswith(expected) for said, expected in zip(verdicts, EXPECTED_VERDICTS[name]))
    assert "".join(c.content for c in chunks) == answer
    assert run.output == {"countries": [{"name": n, "population": 100_000_000 + i} for i, n in enumerate(TWELVE)]} \
        if name == "JSON parser" else run.output


def test_the_generator_never_gives_a_name_before_it_is_whole():
    """Partial objects for every prefix of the answer, as JsonOutputParser yields them: only whole names come out."""
    parser = JsonOutputParser()
    partials = [p for p in (parser.parse(COUNTRIES[:cut]) if cut else None for cut in range(len(COUNTRIES) + 1)) if p]
    names = [name for chunk in extract_country_names_streaming.transform(iter(partials)) for name in chunk]
    assert names == TWELVE


def test_the_output_so_far_adds_up_as_a_chain_consumer_would():
    assert added(added(None, "Hel"), "lo") == "Hello"
    assert added(added(None, ["France"]), ["Spain"]) == ["France", "Spain"]
    assert added({"a": 1}, {"a": 1, "b": 2}) == {"a": 1, "b": 2}  # a parser's objects: each is the whole so far


def test_a_failing_step_is_the_innermost_one_still_running():
    def explode(names):
        raise ValueError("no names here")

    chain = PRESETS["JSON parser + plain function"].build(None, FakeListChatModel(responses=[COUNTRIES])) | explode
    with pytest.raises(ValueError):
        watch(chain)
    run = PipelineRun()

    async def go():
        async for _ in run.astream(chain, "x"):
            pass

    with pytest.raises(ValueError):
        asyncio.run(go())
    assert run.failed_step.label == "explode" and run.failed_step.outputs == 0


def test_what_an_event_carried_is_bounded_and_visibly_text():
    assert shown("x" * 100_000).endswith(f"… {100_002 - CARRIED_CHARS:,} more characters")  # 2 quotes
    assert len(shown("x" * 100_000)) < CARRIED_CHARS + 30
    assert shown("a\nb") == '"a\\nb"'
    assert json.loads(shown({"k": [1, 2]})) == {"k": [1, 2]}


def test_a_chain_of_your_own_streams_through_the_same_run():
    upper = RunnableLambda(lambda text: text.upper(), name="shout")
    chain = ChatPromptTemplate.from_messages([("user", "{q}")]) | FakeListChatModel(responses=["hi there"]) \
        | StrOutputParser() | upper
    run, _ = watch(chain)
    assert run.output == "HI THERE"
    assert run.verdicts()[0].startswith("does not stream: `shout` waits for its whole input")


@pytest.mark.local_model
@pytest.mark.parametrize("name", list(PRESETS))
def test_each_preset_runs_on_the_bundled_model(name):
    model = build_chat_model(Settings(provider="local", local_seed=7, temperature=0.2, max_tokens=160))
    run, chunks = watch(preset_chain(name, model, max_tokens=160), PRESETS[name].question,
                        branches=SIDE_BY_SIDE if "side" in name else ())
    assert chunks and run.output and run.verdicts()
    steps = {step.kind for step in run.steps.values()}
    assert "chat_model" in steps and "prompt" in steps
    if "JSON parser" == name:
        assert isinstance(run.output, dict) and "countries" in run.output  # the grammar made JSON
    if name == "retriever first":
        assert "retriever" in steps


def test_a_prompt_and_a_model_start_show_their_messages():
    run, _ = watch(preset_chain("model only", FakeListChatModel(responses=["hi"])), "who's elon musk?")
    carried = {row[2]: row[3] for row in run.rows()}
    assert carried["on_prompt_end"] == carried["on_chat_model_start"] == 'human: "who\'s elon musk?"'


def test_the_lanes_keep_the_chains_order():
    run, _ = watch(preset_chain("retriever first", FakeListChatModel(responses=["hi"])), "streaming")
    lanes = list(dict.fromkeys((row[1], row[4]) for row in run.points()))
    assert sorted(lanes) == lanes  # sorted as text, as the plot sorts them, is the order the steps started
    assert lanes[0] == ("1", "retriever first") and ("5", "KeywordRetriever") in lanes and len(lanes) == 9
    assert lanes.index(("8", "FakeListChatModel")) > lanes.index(("5", "KeywordRetriever"))
    key = run.lane_key(lambda name: f"`{name}`")
    assert key.startswith("Lanes: 1 `retriever first` · 2 ") and "5 `KeywordRetriever`" in key


def test_lanes_past_nine_keep_their_order_as_text():
    run = PipelineRun()
    for number in range(12):
        run.steps[f"run {number}"] = Step(f"step {number}", "chain", (), (), 0.0)
    assert sorted(run.lane_names().values()) == list(run.lane_names().values())  # " 9" before "10"


def test_the_lanes_keep_every_start_and_end_and_thin_the_streams_past_the_points_they_show():
    from llm.lessons.pipeline_run import MAX_POINTS

    run = PipelineRun()
    run.steps["r"] = Step("model", "chat_model", (), (), 0.0)
    run.events = [[0.0, "model", "on_chat_model_start", "", "r", []]]
    run.events += [[float(i), "model", "on_chat_model_stream", "", "r", []] for i in range(1, 10 * MAX_POINTS)]
    run.events += [[1e9, "model", "on_chat_model_end", "", "r", []]]
    kinds = [row[2] for row in run.points()]
    assert kinds[0] == "start" and kinds[-1] == "end" and len(kinds) <= MAX_POINTS + 2
    assert kinds.count("stream") >= MAX_POINTS // 2  # thinned, not dropped
