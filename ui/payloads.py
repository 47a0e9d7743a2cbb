"""What Gradio's components take, made from `llm`'s plain data: plots' column/row shape, their colours,
and a JSON value the page may show. `llm` knows nothing of these; the tabs call them.

    >>> timeline_value([[0, 12.5, 12.5, "Hi"], [1, 20.0, 7.5, "!"]])["data"]
    [[0, 12.5, 12.5], [1, 20.0, 7.5]]
    >>> page_value({"__type__": "update", "n": 2**60})
    {'__type__ (renamed in this view: Gradio reserves the name)': 'update', 'n': '1152921504606846976'}
"""

from __future__ import annotations

from typing import Any

from llm.lessons.partial_json import SAFE_INTEGER

# The Debug timeline: a point per chunk (its index, ms since the request, the gap before it).
TIMELINE_X, TIMELINE_Y, TIMELINE_GAP = "chunk", "ms since request", "gap before (ms)"
# The Pipeline's lanes: a point per event, a lane per step, coloured by the event's kind.
LANES_X, LANES_Y, LANES_COLOR, LANES_EVENT, LANES_NAME = "ms since request", "step", "kind", "event", "name"
LANE_COLORS = {"start": "#4c78a8", "stream": "#54a24b", "end": "#e45756"}
# The agent's stream on the Tools tab: a point per event, a lane per mode and node, coloured by mode.
MODE_COLORS = {"messages": "#54a24b", "updates": "#4c78a8", "custom": "#f58518"}
RESERVED_KEY = "__type__"  # Gradio takes a dict with this key as a component update
SHOWN_RESERVED_KEY = "__type__ (renamed in this view: Gradio reserves the name)"


def plot_value(columns: dict[str, str], data: list[list[Any]]) -> dict[str, Any]:
    """Points in the column/row shape Gradio's native plots take (`columns`: name → Vega datatype), so
    no DataFrame is built per update."""
    return {"columns": list(columns), "data": data, "datatypes": columns, "mark": "point"}


def timeline_value(rows: list[list[Any]]) -> dict[str, Any]:
    """The Debug timeline of chunk rows (`DebugReport.rows`, or its `points`): their first three columns."""
    return plot_value(dict.fromkeys([TIMELINE_X, TIMELINE_Y, TIMELINE_GAP], "quantitative"),
                      [row[:3] for row in rows])


def lanes_value(points: list[list[Any]]) -> dict[str, Any]:
    """The Pipeline's lanes of `PipelineRun.points()`: (ms, lane, kind, event, step name) each."""
    return plot_value({LANES_X: "quantitative", LANES_Y: "nominal", LANES_COLOR: "nominal", LANES_EVENT: "nominal",
                       LANES_NAME: "nominal"}, points)


def agent_lanes_value(points: list[list[Any]]) -> dict[str, Any]:
    """The Tools tab's lanes of `AgentRun.points()`: (ms, lane, mode, node) each."""
    return plot_value({"ms since request": "quantitative", "lane": "nominal", "mode": "nominal", "node": "nominal"},
                      points)


def page_value(value: Any, huge_numbers: bool = True) -> Any:
    """A JSON value as a page may show it: the model's JSON is data, so a top-level `__type__` key (which
    Gradio reads as a command) is shown renamed, and an integer too large for a browser's numbers is
    shown as its digits in a string; `huge_numbers=False` when it is known to hold none. Nesting too
    deep to walk is shown as a sentence. The value itself is unchanged."""
    try:
        value = _digits_for_huge(value) if huge_numbers else value
    except RecursionError:
        return "(nested too deeply to show)"
    if isinstance(value, dict) and RESERVED_KEY in value:
        value = {(SHOWN_RESERVED_KEY if key == RESERVED_KEY else key): item for key, item in value.items()}
    return value


def _digits_for_huge(value: Any) -> Any:
    """A copy of `value` with integers beyond SAFE_INTEGER as strings."""
    if isinstance(value, dict):
        return {key: _digits_for_huge(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_digits_for_huge(item) for item in value]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > SAFE_INTEGER:
        return str(value)
    return value
