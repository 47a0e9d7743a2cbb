"""Two small, safe demo tools a model may call: no network, no files, no `eval` of model text.

- `calculator(expression)`: arithmetic (+ - * / // % ** and parentheses), parsed with `ast` and
  walked here: nothing else in the expression is run, and the sizes are bounded.
- `country_facts(name)`: capital, population and more, from a small table bundled with the app.

Bad arguments make a tool return a readable error, never raise (`run_tool`):

    >>> run_tool({"name": "calculator", "args": {"expression": "12*7"}, "id": "c1"})
    (True, '84')
    >>> run_tool({"name": "country_facts", "args": {"name": "kenya"}, "id": "c2"})[1]
    'Kenya: capital Nairobi; population about 55,100,000 (2023); Africa; currency: Kenyan shilling.'
    >>> run_tool({"name": "calculator", "args": {"expression": "1e999-1e999"}, "id": "c3"})
    (False, 'Error: calculator refuses a number beyond 1e+100.')
    >>> run_tool({"name": "calculator", "args": {"expression": "__import__('os')"}, "id": "c4"})
    (False, 'Error: calculator takes numbers and + - * / // % ** ( ) only, not a function call.')
"""

from __future__ import annotations

import ast
import math
import operator
from typing import Any

from langchain_core.messages import ToolMessage
from langchain_core.tools import BaseTool, ToolException, tool
from langgraph.config import get_stream_writer

MAX_EXPRESSION_CHARS = 200
MAX_MAGNITUDE = 1e100  # results (and every step on the way) beyond this are refused
MAX_EXPONENT = 1000
_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}

# name: (capital, population about 2023, continent, currency)
COUNTRIES: dict[str, tuple[str, int, str, str]] = {
    "Argentina": ("Buenos Aires", 46_700_000, "South America", "Argentine peso"),
    "Australia": ("Canberra", 26_600_000, "Oceania", "Australian dollar"),
    "Brazil": ("Brasília", 216_400_000, "South America", "Brazilian real"),
    "Canada": ("Ottawa", 40_100_000, "North America", "Canadian dollar"),
    "China": ("Beijing", 1_410_700_000, "Asia", "renminbi (yuan)"),
    "Egypt": ("Cairo", 112_700_000, "Africa", "Egyptian pound"),
    "France": ("Paris", 68_200_000, "Europe", "euro"),
    "Germany": ("Berlin", 84_500_000, "Europe", "euro"),
    "India": ("New Delhi", 1_428_600_000, "Asia", "Indian rupee"),
    "Indonesia": ("Jakarta", 277_500_000, "Asia", "Indonesian rupiah"),
    "Japan": ("Tokyo", 124_500_000, "Asia", "Japanese yen"),
    "Kenya": ("Nairobi", 55_100_000, "Africa", "Kenyan shilling"),
    "Mexico": ("Mexico City", 128_500_000, "North America", "Mexican peso"),
    "Nigeria": ("Abuja", 223_800_000, "Africa", "Nigerian naira"),
    "Peru": ("Lima", 34_400_000, "South America", "Peruvian sol"),
    "South Africa": ("Pretoria", 62_000_000, "Africa", "South African rand"),
    "Spain": ("Madrid", 48_400_000, "Europe", "euro"),
    "United States": ("Washington, D.C.", 334_900_000, "North America", "US dollar"),
}


class ToolError(ToolException):
    """A tool's readable refusal: it goes back to the model (and the page) as the tool's result, an error."""


def progress(tool_name: str, says: str) -> None:
    """Tell whoever streams the agent what this tool is doing ("custom" stream mode). Called outside
    an agent (the notebook's `LLM`, `run_tool`), it does nothing."""
    try:
        writer = get_stream_writer()
    except (RuntimeError, KeyError):  # not inside a LangGraph run (outside any run, or in a plain one)
        return
    writer({"tool": tool_name, "says": says})


def evaluate(expression: str) -> int | float:
    """The value of an arithmetic expression, or a ToolError saying what is wrong with it."""
    if not isinstance(expression, str) or not expression.strip():
        raise ToolError("calculator needs an expression, such as 12*7.")
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise ToolError(f"calculator takes at most {MAX_EXPRESSION_CHARS} characters.")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError:
        raise ToolError(f"calculator could not read {expression.strip()!r} as arithmetic.") from None
    return _value(tree.body)


def _value(node: ast.AST) -> int | float:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        if not math.isfinite(node.value) or abs(node.value) > MAX_MAGNITUDE:  # 1e999 is inf, and inf-inf nan
            raise ToolError(f"calculator refuses a number beyond {MAX_MAGNITUDE:.0e}.")
        return node.value
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_value(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _value(node.left), _value(node.right)
        if isinstance(node.op, ast.Pow) and (abs(right) > MAX_EXPONENT or (abs(left) > 1 and abs(right) * math.log10(
                abs(left)) > math.log10(MAX_MAGNITUDE))):
            raise ToolError(f"calculator refuses a result beyond {MAX_MAGNITUDE:.0e}.")
        try:
            result = _BINARY[type(node.op)](left, right)
        except ZeroDivisionError:
            raise ToolError("calculator cannot divide by zero.") from None
        if isinstance(result, complex) or abs(result) > MAX_MAGNITUDE:
            raise ToolError(f"calculator refuses a result beyond {MAX_MAGNITUDE:.0e} (or not a real number).")
        return result
    what = {ast.Name: f"the name {getattr(node, 'id', '')!r}", ast.Call: "a function call",
            ast.Attribute: "an attribute"}.get(type(node), type(node).__name__)
    raise ToolError(f"calculator takes numbers and + - * / // % ** ( ) only, not {what}.")


# Only in the schema a model is shown (its grammar offline), not checked on the way in: `evaluate`
# says better what is wrong. The bundled 135M model, unconstrained, wrote '{12} * {7}'; with it, '12*7'.
EXPRESSION_PATTERN = rf"^[-(0-9][-+*/%(). 0-9]{{0,{MAX_EXPRESSION_CHARS - 1}}}$"


CALCULATOR_ARGUMENTS = {"type": "object", "required": ["expression"],
                        "properties": {"expression": {"type": "string", "pattern": EXPRESSION_PATTERN}}}


@tool(args_schema=CALCULATOR_ARGUMENTS)
def calculator(expression: str = "") -> str:
    """The value of one arithmetic expression, written as in the question, such as 3*5."""
    progress("calculator", f"evaluating {cut_text(expression)}")
    value = evaluate(expression)
    return str(int(value)) if isinstance(value, float) and value.is_integer() and abs(value) < 1e15 else str(value)


@tool
def country_facts(name: str) -> str:
    """Capital, population, continent and currency of a country, from a small bundled table."""
    if not isinstance(name, str) or not name.strip():
        raise ToolError("country_facts needs a country's name, such as Kenya.")
    progress("country_facts", f"looking up {cut_text(name.strip())}")
    found = next((country for country in COUNTRIES if country.lower() == name.strip().lower()), None)
    if found is None:
        raise ToolError(f"country_facts knows {len(COUNTRIES)} countries ({', '.join(COUNTRIES)}), not {name.strip()[:60]!r}.")
    capital, population, continent, currency = COUNTRIES[found]
    return f"{found}: capital {capital}; population about {population:,} (2023); {continent}; currency: {currency}."


def cut_text(text: Any, most: int = 60) -> str:
    """A model's argument as a progress line shows it: text, at most `most` characters."""
    text = text if isinstance(text, str) else repr(text)
    return text if len(text) <= most else text[:most] + "…"


TOOLS: dict[str, BaseTool] = {t.name: t for t in (calculator, country_facts)}
for _tool in TOOLS.values():  # a ToolError goes back to the model as the tool's error result, not up the stack
    _tool.handle_tool_error = lambda error: f"Error: {error}"


def run_tool(call: dict[str, Any], tools: dict[str, BaseTool] = TOOLS) -> tuple[bool, str]:
    """Run one parsed tool call (`{"name", "args", "id"}`): (True, result) or (False, "Error: …")."""
    chosen = tools.get(call.get("name") or "")
    if chosen is None:
        return False, f"Error: there is no tool named {str(call.get('name'))[:60]!r}; the tools are {', '.join(tools)}."
    try:
        said = chosen.invoke({"name": chosen.name, "args": call.get("args") or {}, "id": call.get("id") or "call",
                              "type": "tool_call"})
    except Exception as error:  # arguments that do not fit the tool's schema, and anything else
        first = str(error).splitlines()[0][:200]
        return False, f"Error: {chosen.name} could not run with these arguments ({type(error).__name__}: {first})."
    assert isinstance(said, ToolMessage)
    return said.status != "error", str(said.content)
