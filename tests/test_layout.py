"""The code's shape: imports flow one way (app → ui → llm) with no cycle, and one loop streams to the page."""

import ast
from pathlib import Path

from tests.conftest import ROOT

PACKAGES = ("ui", "llm")


def modules() -> dict[str, Path]:
    """`app`, and every module of ui/ and llm/, by dotted name (a package by its own name)."""
    found = {"app": ROOT / "app.py"}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            dotted = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[dotted.removesuffix(".__init__")] = path
    return found


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The project's modules `name` imports anywhere in its file, `if TYPE_CHECKING:` blocks included."""
    package = name if path.stem == "__init__" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            # `from pkg import mod` imports the module pkg.mod when there is one, else names from pkg
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        found |= {target for target in targets if target in known and target != name}
    return found


def graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imports_of(name, path, set(found)) for name, path in found.items()}


def cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the list of modules around it, or None."""
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = "done"
        path.pop()
        return None

    for start in sorted(edges):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_there_is_no_import_cycle_counting_type_checking_imports():
    assert cycle(graph()) is None


def test_the_cycle_check_finds_a_cycle():
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set()}) is None


def test_imports_flow_one_way_app_then_ui_then_llm():
    for name, targets in graph().items():
        if name.startswith("llm"):
            assert not {t for t in targets if not t.startswith("llm")}, f"{name} imports the page"
        if name.startswith("ui"):
            assert "app" not in targets, f"{name} imports app"


def names_used(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return ({node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
            | {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
            | {alias.asname or alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
               for alias in node.names})


def test_only_the_one_loop_walks_a_chunk_stream_for_the_page():
    """A tab that iterated the accumulator or paced batches itself would be a second loop."""
    walkers = {"arecords", "aaccumulate", "accumulate", "paced", "DebugReport"}
    for path in [ROOT / "app.py", *sorted((ROOT / "ui").glob("*.py"))]:
        used = names_used(path) & walkers
        if path.name in ("stream_to_page.py", "debug_outputs.py"):
            continue
        assert not used, f"{path.name} uses {used}: the page's streaming goes through ui/stream_to_page.py"
    assert {"arecords", "paced"} <= names_used(ROOT / "ui" / "stream_to_page.py")
