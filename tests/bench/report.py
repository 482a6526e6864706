"""The final table of `make bench`: every benchmark adds its rows here, and the session prints them
together at the end (tests/bench/conftest.py) and saves them as JSON and Markdown under
``.laneyard/bench/`` (LANEYARD_BENCH_OUT), so a re-run's numbers can go straight into
docs/benchmarks.md."""

from __future__ import annotations

import io
import json
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[2]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f}"


@dataclass
class Section:
    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Report:
    sections: dict[str, Section] = field(default_factory=dict)

    def add(self, title: str, row: dict[str, str]) -> None:
        section = self.sections.setdefault(title, Section(title, list(row)))
        for name in row:
            if name not in section.columns:
                section.columns.append(name)
        section.rows.append([row.get(c, "") for c in section.columns])

    def note(self, title: str, text: str) -> None:
        self.sections.setdefault(title, Section(title, [])).notes.append(text)

    def render(self) -> str:
        out = io.StringIO()
        console = Console(file=out, width=200, color_system=None, soft_wrap=True)
        console.print(f"== Laneyard bench ({machine()}) ==")
        for s in self.sections.values():
            table = Table(title=s.title, title_justify="left", show_lines=False)
            for i, c in enumerate(s.columns):
                table.add_column(c, justify="left" if i == 0 else "right")
            for r in s.rows:
                table.add_row(*(r + [""] * (len(s.columns) - len(r))))
            if s.columns:
                console.print(table)
            for n in s.notes:
                console.print(n)
        return out.getvalue()

    def markdown(self) -> str:
        lines = [f"Measured {time.strftime('%Y-%m-%d %H:%M')} on {machine()}.", ""]
        for s in self.sections.values():
            lines += [f"### {s.title}", ""]
            if s.columns:
                lines.append("| " + " | ".join(s.columns) + " |")
                lines.append("|" + "|".join("---" if i == 0 else "---:" for i in range(len(s.columns))) + "|")
                lines += ["| " + " | ".join(r) + " |" for r in s.rows]
                lines.append("")
            lines += [*s.notes, ""] if s.notes else []
        return "\n".join(lines)

    def save(self) -> Path:
        out = Path(os.environ.get("LANEYARD_BENCH_OUT", ROOT / ".laneyard" / "bench"))
        out.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        data = {t: {"columns": s.columns, "rows": s.rows, "notes": s.notes} for t, s in self.sections.items()}
        (out / f"bench-{stamp}.json").write_text(json.dumps(data, indent=2))
        (out / "last.md").write_text(self.markdown())
        return out / "last.md"


def machine() -> str:
    cores = os.cpu_count()
    try:
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        load = "?"
    return f"{platform.node()}: {cores} cores, Python {platform.python_version()}, load average {load}"


# One report per pytest session: every bench module adds to it.
REPORT = Report()
