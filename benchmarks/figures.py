"""One benchmark figure beside its goal, and the README-ready table of them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Figure:
    """A measured value; `ok` is whether it meets `goal` (None: shown for reference)."""

    name: str
    value: str
    goal: str = ""
    ok: bool | None = None
    detail: str = ""

    def line(self) -> str:
        mark = {True: "✓", False: "✗", None: " "}[self.ok]
        return f"{mark} {self.name}: {self.value}" + (f"  (goal: {self.goal})" if self.goal else "") + (
            f"  [{self.detail}]" if self.detail else "")


def table(figures: list[Figure]) -> str:
    """A Markdown table: figure, value, goal, met."""
    rows = ["| figure | measured | goal | met |", "|---|---|---|---|"]
    for f in figures:
        met = {True: "✓", False: "✗", None: "–"}[f.ok]
        value = f.value + (f" ({f.detail})" if f.detail else "")
        rows.append(f"| {f.name} | {value} | {f.goal or '–'} | {met} |")
    return "\n".join(rows)
