"""The benchmark's report: its rows, the table and verdict written to docs/benchmarks.md,
the machine it ran on, and the throughput chart."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Row:
    name: str
    figure: str
    goal: str
    met: bool | None


def machine() -> str:
    cpu = "unknown CPU"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    system = f"{platform.system()} {platform.release()}"
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {system}"


def table(rows: list[Row]) -> str:
    lines = ["| measure | figure | goal | met or missed |", "|---|---|---|---|"]
    for row in rows:
        verdict = "-" if row.met is None else ("met" if row.met else "**missed**")
        lines.append(f"| {row.name} | {row.figure} | {row.goal} | {verdict} |")
    return "\n".join(lines)


def verdict(rows: list[Row]) -> str:
    """One line: how many goals this run met, and which it missed."""
    goals = [row for row in rows if row.met is not None]
    missed = [row.name for row in goals if not row.met]
    line = f"Goals met in this run: {len(goals) - len(missed)} of {len(goals)}."
    return line + (" Missed: " + "; ".join(missed) + "." if missed else "")


def chart(rates: dict[str, float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(rates)
    figure, axes = plt.subplots(figsize=(8, 4))
    colors = ["#888888", "#0b6bcb", "#3b8fe0", "#c0504d", "#e0a030", "#7a5195"]
    bars = axes.bar(names, [rates[n] for n in names], color=colors[: len(names)])
    axes.bar_label(bars, fmt="%.0f")
    axes.set_ylabel("cancels per second (sequential, one client)")
    axes.set_title("Cancel throughput against the local ADT emulator (median of interleaved blocks)")
    axes.tick_params(axis="x", labelsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
