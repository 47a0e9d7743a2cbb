"""Floods from a broken or hostile server, each measured as another visitor's time to first token
(`tests/floods.py`): the real app in its own process, the flooding visitor in another."""

from __future__ import annotations

import json
import threading

import pytest

from tests.conftest import SECRET, free_port, start_app
from tests.floods import FLOOD, measure_flood
from tests.json_documents import pieces_of
from tests.openai_server import Scenario

pytestmark = pytest.mark.slow

HUNDRED_KB = json.dumps({"countries": [{"name": f"Country {i}", "population": i * 1000} for i in range(2500)]})
# For Stop: ten times as long, so the server is still sending when Stop lands. The server writes about
# 10,000 tokens a second and the app's socket buffers grow to hold what it has not read, so the 30,000
# tokens of the 100 KB one had sometimes all been sent by then, and no hang-up was left to see.
ONE_MB = json.dumps({"countries": [{"name": f"Country {i}", "population": i * 1000} for i in range(25_000)]})
FLOODS = {
    "a 10 MB calculator expression": ("/tools", [FLOOD], Scenario(tool_calls=[{
        "name": "calculator", "arguments": json.dumps({"expression": "1+" * 5_000_000 + "1"}), "id": "c1"}],
        tool_piece=65_536), "arguments passed 100,000 characters"),
    "50 MB of tool-call arguments": ("/tools", [FLOOD], Scenario(tool_calls=[{
        "name": "country_facts", "arguments": json.dumps({"name": "x" * 50_000_000}), "id": "c1"}],
        tool_piece=1_048_576), "arguments passed 100,000 characters"),
    "10,000 parallel calls": ("/tools", [FLOOD], Scenario(tool_calls=[
        {"name": "calculator", "arguments": '{"expression": "1+1"}', "id": f"c{i}"} for i in range(10_000)],
        tool_piece=64), "more than 32 tool calls"),
    "100,000 alternatives per token": ("/chat", [FLOOD, "", 0.5, 100, None, "", 3],
                                       Scenario(tokens=["a", " b", " c"], top_sent=100_000), "a line of more than"),
    "a 100 KB JSON answer through the JSON parser": ("/pipeline", [FLOOD, "JSON parser"],
                                                     Scenario(tokens=pieces_of(HUNDRED_KB, 4)), "✓"),
}


@pytest.fixture(scope="module")
def flooded_app(openai_server):
    port = free_port()
    app = start_app(["--port", str(port)], {"OPENAI_BASE_URL": openai_server.base_url, "OPENAI_API_KEY": SECRET}, port)
    threading.Thread(target=lambda: [None for _ in app.stdout], daemon=True).start()  # its log must not fill a pipe
    yield app, f"http://127.0.0.1:{port}/"
    app.terminate()
    app.wait(timeout=20)


@pytest.mark.parametrize("name", list(FLOODS))
def test_another_visitors_first_token_waits_under_a_second_more_during_a_flood(flooded_app, server, name):
    app, url = flooded_app
    api, args, flood, says = FLOODS[name]
    report = measure_flood(server, app.pid, url, api, args, flood, limit=120)
    assert report.worst_extra < 1.0, f"{name}: first token {report.worst_extra:.2f} s later than before, {report.waits}"
    assert says in json.dumps(report.last, ensure_ascii=False)  # it ended, with a sentence (or complete)
    assert report.largest < 1_000_000, f"{name}: an update of {report.largest:,} bytes"  # what one page gets at once
    assert report.rss_peak - report.rss_before < 500_000_000, f"{name}: memory grew {report.rss_peak - report.rss_before:,} bytes"


def test_stop_during_a_flood_frees_the_cpu_at_once(flooded_app, server):
    app, url = flooded_app
    api, args, _, _ = FLOODS["a 100 KB JSON answer through the JSON parser"]
    report = measure_flood(server, app.pid, url, api, args, Scenario(tokens=pieces_of(ONE_MB, 4)), stop_after=2.0)
    assert report.error is None and report.cpu_after_stop is not None, (report.error, report.cpu_after_stop)
    # It had been read to its end 1 Stop in 3 (a cancel lost in langchain-openai's wait_for: llm/stream/thinking.py)
    assert report.closed_upstream, "the request upstream was not closed"
    assert report.cpu_after_stop < 0.3, f"{report.cpu_after_stop:.2f} CPU-seconds in the second after Stop"
