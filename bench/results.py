"""Benchmark results — figures, their bare ceilings, ratios, pass/fail — and the two report files.

A :class:`Figure` holds every run of one measured figure and of the ceiling it is compared with (both
measured in the same benchmark run); the median of the runs is what the report shows. An
:class:`Area` groups the figures of one part of the system with notes on how they were measured.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.stats import median

#: Cores used by other programs during a run above which the report warns.
FOREIGN_LOAD_WARNING = 0.15


@dataclass
class Target:
    """``value op target``: ``>=`` for throughput, ``<`` for latency; ``source`` names a target that is
    not the issue's (shown next to it)."""

    op: str
    value: float
    source: str = ""

    def met(self, measured: float) -> bool:
        if math.isnan(measured):
            return False
        return measured >= self.value if self.op == ">=" else measured < self.value

    def text(self, unit: str) -> str:
        symbol = "≥" if self.op == ">=" else "<"
        return f"{symbol} {_number(self.value)} {unit}" + (f" ({self.source})" if self.source else "")


#: A paced run that delivered less than this share of the offered rate did not measure that load.
RATE_REACHED = 0.95


@dataclass
class Figure:
    """One figure: its runs, the runs of its ceiling, the target, and per-run details."""

    name: str
    unit: str
    target: Target | None = None
    runs: list[float] = field(default_factory=list)
    ceiling_name: str = ""
    ceiling_runs: list[float] = field(default_factory=list)
    details: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""

    @property
    def value(self) -> float:
        return median(self.runs)

    @property
    def ceiling(self) -> float:
        return median(self.ceiling_runs)

    @property
    def ratio(self) -> float:
        if not self.runs or not self.ceiling_runs or self.ceiling == 0:
            return math.nan
        return self.value / self.ceiling

    @property
    def passed(self) -> bool | None:
        return None if self.target is None or not self.runs else self.target.met(self.value)

    def add_paced_run(
        self,
        p99_ms: float,
        ceiling_p99_ms: float,
        *,
        offered: float,
        delivered: float,
        details: dict[str, Any],
    ) -> bool:
        """A latency run at an offered rate, beside its ceiling's; whether the rate was delivered. A load
        that was not delivered has no latency to show: the run counts as infinitely slow (failed)."""
        reached = delivered >= RATE_REACHED * offered
        self.runs.append(p99_ms if reached else math.inf)
        self.ceiling_runs.append(ceiling_p99_ms)
        self.details.append(
            {"offered_per_s": offered, "requests_per_s": round(delivered), "rate_reached": reached, **details}
        )
        return reached

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(
            runs=[_finite(run) for run in self.runs],
            ceiling_runs=[_finite(run) for run in self.ceiling_runs],
            median=_finite(self.value),
            ceiling_median=_finite(self.ceiling),
            ratio_to_ceiling=_finite(self.ratio),
            passed=self.passed,
        )
        return data


@dataclass
class Area:
    """The figures of one part of the system, or why it was not measured."""

    key: str
    title: str
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    not_measured: str = ""
    error: str = ""
    seconds: float = 0.0

    def figure(self, name: str, unit: str, target: Target | None = None, *, ceiling: str = "") -> Figure:
        found = Figure(name, unit, target, ceiling_name=ceiling)
        self.figures.append(found)
        return found

    def foreign_load(self) -> list[float]:
        """CPU (cores) other programs used during each measured run of this area."""
        return [
            float(detail["cpu_foreign"])
            for figure in self.figures
            for detail in figure.details
            if isinstance(detail.get("cpu_foreign"), int | float)
        ]

    def note_foreign_load(self) -> None:
        """Warn when other programs competed for the CPU during the measured runs."""
        foreign = self.foreign_load()
        if foreign and max(foreign) > FOREIGN_LOAD_WARNING:
            self.notes.append(
                f"**Other programs used the CPU during these runs**: up to {max(foreign):.2f} cores "
                f"(mean {sum(foreign) / len(foreign):.2f}; `cpu_foreign` in the runs below). On this "
                "2-core machine that lowers the figures; compare the ratios, measured alongside."
            )


def _finite(value: float) -> float | None:
    """JSON has no NaN or infinity: a figure that was not measured (NaN) or failed outright (inf) is null."""
    return round(value, 3) if math.isfinite(value) else None


def _number(value: float) -> str:
    if math.isnan(value):
        return "-"
    if math.isinf(value):
        return "∞"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:,.1f}"
    return f"{value:,.2f}"


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = bool(
            subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
        )
    except (OSError, subprocess.CalledProcessError):
        commit, dirty = "unknown", False
    memory_gib = 0.0
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory_gib = round(pages / 2**30, 1)
    except (OSError, ValueError):
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": memory_gib,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "commit": commit + ("+dirty" if dirty else ""),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


@dataclass
class Report:
    """Everything one ``python -m bench`` run measured."""

    started: datetime.datetime
    quick: bool
    settings: dict[str, Any]
    machine: dict[str, Any]
    servers: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    areas: list[Area] = field(default_factory=list)
    seconds: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "date": self.started.isoformat(timespec="seconds"),
            "quick": self.quick,
            "seconds": round(self.seconds, 1),
            "machine": self.machine,
            "servers": self.servers,
            "notes": self.notes,
            "settings": self.settings,
            "areas": [
                {
                    "key": area.key,
                    "title": area.title,
                    "not_measured": area.not_measured,
                    "error": area.error,
                    "seconds": round(area.seconds, 1),
                    "notes": area.notes,
                    "figures": [figure.as_json() for figure in area.figures],
                }
                for area in self.areas
            ],
        }

    def write(self, directory: Path) -> tuple[Path, Path]:
        directory.mkdir(parents=True, exist_ok=True)
        md, js = directory / "report.md", directory / "report.json"
        js.write_text(json.dumps(self.as_json(), indent=2, ensure_ascii=False) + "\n")
        md.write_text(self.markdown())
        return md, js

    def markdown(self) -> str:
        m = self.machine
        runs = "1 run per figure (--quick)" if self.quick else "median of 3 runs per figure"
        if not self.quick and any(area.key == "analytics" for area in self.areas):
            runs += f" ({self.settings.get('analytics_repetitions', 5)} for the analytics queries)"
        lines = [
            "# configtrail benchmark report",
            "",
            f"Generated by `make bench` (`python -m bench`) on {self.started:%Y-%m-%d %H:%M} UTC in "
            f"{self.seconds / 60:.1f} min; {runs}. Every bare ceiling was measured in this same run, "
            "on this machine, alternating with the figure it bounds; *ratio* is measured ÷ ceiling "
            "(for throughput the share of the ceiling reached, for latency how many times slower). "
            "Details of every run (latency percentiles, server-side checks, CPU of each process in "
            "cores) are under each area.",
            "",
            f"- **Machine**: {m['nproc']} cores (`nproc`), {m['cpu_model']}, {m['memory_gib']} GiB RAM, "
            f"Linux {m['kernel']}, Python {m['python']}",
            f"- **Code**: commit `{m['commit']}`",
            f"- **Servers**: PostgreSQL {self.servers.get('postgres', '?')}; "
            f"Redis {self.servers.get('redis', '?')}",
            f"- **Load at start**: load average {', '.join(str(x) for x in m['load_average_at_start'])}; "
            f"other programs used {m.get('foreign_cores_at_start', '?')} cores in the second before",
            *(f"- {note}" for note in self.notes),
            "",
            "## Summary",
            "",
            "| area | figure | target | measured | bare ceiling (same run) | ratio | result |",
            "|---|---|---|---|---|---|---|",
        ]
        for area in self.areas:
            if area.not_measured or area.error:
                reason = area.not_measured or f"failed: {area.error.strip().splitlines()[-1]}"
                lines.append(f"| {area.title} | - | - | not measured: {_cell(reason)} | - | - | - |")
                continue
            for figure in area.figures:
                lines.append(f"| {area.title} | {_row(figure)} |")
        disturbed = [
            f"{area.title} (up to {max(area.foreign_load()):.2f} cores)"
            for area in self.areas
            if area.foreign_load() and max(area.foreign_load()) > FOREIGN_LOAD_WARNING
        ]
        if disturbed:
            lines += [
                "",
                "⚠️ Other programs competed for the two cores during: " + "; ".join(disturbed) + ".",
            ]
        for area in self.areas:
            lines += ["", f"## {area.title}", ""]
            if area.not_measured:
                lines += [f"Not measured: {area.not_measured}.", ""]
            if area.error:
                lines += ["The measurement failed:", "", "```", area.error.strip()[-3000:], "```", ""]
            if area.figures:
                lines += [
                    "| figure | target | measured | bare ceiling (same run) | ratio | result |",
                    "|---|---|---|---|---|---|",
                ]
                lines += [f"| {_row(figure)} |" for figure in area.figures]
                lines.append("")
            lines += [f"- {note}" for note in area.notes]
            detailed = [f for f in area.figures if f.details]
            if detailed:
                lines += ["", "<details><summary>Runs</summary>", ""]
                for figure in detailed:
                    lines.append(f"**{figure.name}** — runs: {', '.join(_number(r) for r in figure.runs)}")
                    if figure.ceiling_runs:
                        lines[-1] += f"; ceiling runs: {', '.join(_number(r) for r in figure.ceiling_runs)}"
                    lines.append("")
                    for index, detail in enumerate(figure.details, 1):
                        text = ", ".join(f"{k}={_detail(v)}" for k, v in detail.items())
                        # one detail for several runs describes them all (the analytics queries)
                        label = "all runs" if len(figure.details) == 1 < len(figure.runs) else f"run {index}"
                        lines.append(f"- {label}: {text}")
                    lines.append("")
                lines += ["</details>", ""]
        lines += [
            "",
            "## Settings",
            "",
            "```json",
            json.dumps(self.settings, indent=2),
            "```",
            "",
        ]
        return "\n".join(lines)


def _cell(text: str) -> str:
    """Text that stays inside one markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def _detail(value: Any) -> str:
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_detail(v)}" for k, v in value.items()) + "}"
    return str(value)


def _row(figure: Figure) -> str:
    target = figure.target.text(figure.unit) if figure.target else "-"
    measured = f"{_number(figure.value)} {figure.unit}" if figure.runs else "-"
    if figure.ceiling_runs:
        ceiling = f"{_number(figure.ceiling)} {figure.unit} ({figure.ceiling_name})"
        ratio = f"{figure.ratio:.2f}x"
    else:
        ceiling = figure.ceiling_name or "-"
        ratio = "-"
    result = {True: "✅ pass", False: "❌ fail", None: "-"}[figure.passed]
    name = figure.name + (f" ({figure.note})" if figure.note else "")
    return " | ".join(_cell(part) for part in (name, target, measured, ceiling, ratio, result))
