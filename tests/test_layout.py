"""The code's shape: imports flow one way (app → ui → llm, app → serving) with no cycle; inside `llm`, its
subpackages are layers; one loop streams to the page, and one frame around it serves every tab."""

import ast
from pathlib import Path

from tests.conftest import ROOT

PACKAGES = ("ui", "llm")


def modules() -> dict[str, Path]:
    """`app`, and every module of ui/ and llm/, by dotted name (a package by its own name)."""
    found = {"app": ROOT / "app.py", "serving": ROOT / "serving.py"}
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
            assert not {"app", "serving"} & targets, f"{name} imports app or serving"
        if name == "serving":
            assert not targets, "the serving middleware imports nothing of the app"


# What each part of llm/ may import from llm/, besides the leaves (llm.inert, llm.errors): layers, bottom first.
LAYERS = {
    "llm.stream": set(),
    "llm.guards": {"llm.stream"},
    "llm.backends": {"llm.stream", "llm.guards"},
    "llm.lessons": {"llm.stream", "llm.guards", "llm.backends"},
}
LEAVES = {"llm.inert", "llm.errors"}


def part_of(module: str) -> str:
    return ".".join(module.split(".")[:2])


def test_llm_subpackages_are_layers():
    edges = graph()
    for leaf in LEAVES:
        assert not edges[leaf], f"{leaf} is a leaf, but imports {edges[leaf]}"
    for name, targets in edges.items():
        if part_of(name) not in LAYERS:
            continue
        allowed = LAYERS[part_of(name)] | {part_of(name)}
        beyond = {t for t in targets - LEAVES if part_of(t) not in allowed}
        assert not beyond, f"{name} imports {beyond}, above its layer"


def test_every_llm_module_is_in_a_subpackage_or_is_a_leaf_or_the_public_api():
    top = {name for name in modules() if name.startswith("llm.") and name.count(".") == 1}
    assert top - set(LAYERS) == LEAVES | {"llm.notebook"}


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


def test_only_the_frame_runs_an_answer_around_the_loop():
    """Session, model for the key, one answer at a time, and forwarding the loop's updates (with
    `aclosing`) are written once, in ui/answer_frame.py; a tab that did one of them itself would be a
    second frame."""
    frame_only = {"aclosing", "stream_to_page", "model_for", "one"}
    for path in [ROOT / "app.py", *sorted((ROOT / "ui").glob("*.py"))]:
        if path.name in ("answer_frame.py", "stream_to_page.py"):
            continue
        used = names_used(path) & frame_only | ({"session_hash"} if "session_hash" in path.read_text() else set())
        if path.name == "loop_preprocess.py":  # wraps Gradio's events, the frame's included: passes updates on as they are
            used -= {"aclosing"}
        assert not used, f"{path.name} uses {used}: answers go through ui/answer_frame.py"
    assert frame_only <= names_used(ROOT / "ui" / "answer_frame.py")
    assert "session_hash" in (ROOT / "ui" / "answer_frame.py").read_text()


def test_every_stop_is_wired_one_way():
    """Every tab's Stop goes through `wire_stop`: no tab cancels an event or marks an answer itself."""
    for path in sorted((ROOT / "ui").glob("*.py")):
        if path.name == "answer_frame.py":
            continue
        text = path.read_text()
        assert "cancels=" not in text and ".acc.stop()" not in text, f"{path.name} wires a Stop of its own"
    tabs = ["chat_tab.py", "json_tab.py", "pipeline_tab.py", "tools_tab.py", "chunk_files.py", "token_probabilities.py"]
    assert all("wire_stop" in names_used(ROOT / "ui" / tab) for tab in tabs)


def test_llm_knows_no_gradio_payload():
    """The plots' column/row shape and Gradio's reserved `__type__` key are the page's business (ui/payloads.py)."""
    for path in sorted((ROOT / "llm").rglob("*.py")):
        text = path.read_text()
        assert '"datatypes"' not in text and "__type__" not in text, f"{path.relative_to(ROOT)} knows a Gradio payload"
