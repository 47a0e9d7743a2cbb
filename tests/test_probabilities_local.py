"""Token probabilities and branches on the bundled SmolLM2, really run offline."""

from __future__ import annotations

import asyncio
import json
import math

import pytest
from gradio_client import Client

from llm import LLM, Accumulator, Settings, aaccumulate, build_chat_model
from llm.lessons.branching import Origin, astream_branch, branch_prefix
from llm.stream.report import TABLE_HEADERS, DebugReport
from llm.stream.token_probs import bytes_check
from tests.conftest import launch

pytestmark = pytest.mark.local_model

LOCAL = Settings(provider="local", local_seed=7, temperature=0.0, max_tokens=24)
QUESTION = "Write two sentences about Paris."


@pytest.fixture(scope="module")
def local_app_url():
    demo, url = launch(LOCAL)
    yield url
    demo.close()


def test_the_notebook_api_gets_probabilities_offline():
    llm = LLM(build_chat_model(LOCAL))
    text, _ = llm.stream(QUESTION, echo=False, logprobs=True, top_logprobs=3)
    tokens = [t for r in llm.records for t in r.logprobs]
    usage = [r.usage_metadata for r in llm.records if r.usage_metadata][-1]
    assert bytes_check(tokens, text, usage["output_tokens"]).startswith("Probability check ✓")
    assert all(len(t.top) == 3 and t.token in [alt for alt, _ in t.top] for t in tokens)  # greedy: the top one


def test_continuing_with_the_token_it_sent_gives_the_rest_of_the_same_answer():
    """At temperature 0 the model's answer is fixed, so continuing its own first tokens must give back what
    came next: a server that started a new answer instead would begin again from the start. (Only the next
    words: the kept tokens are now read in one batch, whose rounding may tip a near tie much later on.)"""
    model = build_chat_model(LOCAL).bind(temperature=0.0, max_tokens=24, logprobs=True, top_logprobs=2)
    messages = LLM(model)._fit(QUESTION, None, {})

    async def go():
        answer, branch = Accumulator(), Accumulator()
        async for _ in aaccumulate(model.astream(messages), answer):
            pass
        report = DebugReport()
        report.update(answer.records)
        at = 3
        prefix = branch_prefix(report.tokens, at, report.tokens[at].token)
        async for _ in aaccumulate(astream_branch(Origin(model, messages, 2), prefix), branch):
            pass
        return answer.text, prefix, branch.text

    text, prefix, rest = asyncio.run(go())
    assert text.startswith(prefix) and len(rest) > 20
    assert rest[:20] == text[len(prefix):][:20] and not rest.startswith(prefix)


def test_a_branch_from_another_token_streams_after_the_kept_prefix(local_app_url):
    client = Client(local_app_url, verbose=False)
    job = client.submit(QUESTION, "", 0.0, 24, "", "", 3, api_name="/chat")
    job.result(timeout=180)
    _, summary, table, _ = job.outputs()[-1]
    assert "Probability check ✓" in summary and "perplexity" in summary
    column = TABLE_HEADERS.index("probability")
    probabilities = [float(row[column]) for row in table if row[column]]
    assert len(probabilities) >= 10 and all(0 < p <= 1 for p in probabilities)
    answer = "".join(json.loads(row[3]) for row in table)

    at = 4
    updates = []
    branch_job = client.submit(at, 1, api_name="/continue_from")
    branch_job.result(timeout=180)
    updates = branch_job.outputs()
    branch, status = updates[-1]
    tokens = [item["token"] for item in branch]
    alternative = tokens[at]
    assert "".join(tokens[:at]) == answer[: len("".join(tokens[:at]))]  # the kept prefix, as it was
    assert alternative != answer[len("".join(tokens[:at])):][: len(alternative)] or alternative == ""
    assert len(tokens) > at + 3 and status.startswith("✓ Branch complete")
    assert all(item["class_or_confidence"] is None for item in branch[:at])
    assert all(0 <= item["class_or_confidence"] <= 1 for item in branch[at:])
    assert len({len(u[0]) for u in updates}) >= 3  # it streamed: the branch grew over several updates
    assert math.isfinite(sum(item["class_or_confidence"] for item in branch[at:]))
