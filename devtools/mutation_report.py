"""Writes docs/testing.md from the last `make mutate`: mutmut's results (mutants inside
functions) plus devtools/mutate_constants.py's (module-level constants), per rule module.

A survivor is either judged equivalent, with the reason, in
devtools/mutation_equivalents.toml, or it counts against its module. The goal is that
every rule module kills at least 90% of its non-equivalent mutants; the page says, per
module, whether the last run met it.

    python -m devtools.mutation_report [--check]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from mutmut.stats import status_by_exit_code

REPO = Path(__file__).resolve().parent.parent
MUTANTS = REPO / "mutants"
EQUIVALENTS = Path(__file__).with_name("mutation_equivalents.toml")
PAGE = REPO / "docs" / "testing.md"
GOAL = 0.90


def _rule_modules() -> tuple[str, ...]:
    """The modules make mutate mutates: pyproject.toml's [tool.mutmut] only_mutate, in its order."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    return tuple(Path(path).stem for path in config["tool"]["mutmut"]["only_mutate"])


RULE_MODULES = _rule_modules()
DETECTED = {"killed", "timeout", "caught by type check", "segfault"}


@dataclass
class ModuleScore:
    module: str
    generated: int = 0
    detected: int = 0
    equivalent: list[tuple[str, str]] = field(default_factory=list)
    survived: list[str] = field(default_factory=list)
    unchecked: int = 0

    @property
    def judged(self) -> int:
        """Mutants that could be told apart from the original: all but the equivalent."""
        return self.generated - len(self.equivalent) - self.unchecked

    @property
    def score(self) -> float:
        return self.detected / self.judged if self.judged else 1.0

    @property
    def meets_goal(self) -> bool:
        return self.score >= GOAL and self.unchecked == 0


def mutmut_results() -> dict[str, str]:
    """Mutant name -> status, from mutmut's meta files."""
    results = {}
    for meta in MUTANTS.glob("cancel_job/*.py.meta"):
        for name, exit_code in json.loads(meta.read_text())["exit_code_by_key"].items():
            results[name] = status_by_exit_code[exit_code]
    return results


def constant_results() -> dict[str, tuple[str, str]]:
    """Mutant name -> (status, description), from devtools/mutate_constants.py."""
    path = MUTANTS / "constants.json"
    rows = json.loads(path.read_text()) if path.exists() else []
    return {row["name"]: (row["status"], row["description"]) for row in rows}


def scores() -> tuple[list[ModuleScore], list[str]]:
    equivalents = tomllib.loads(EQUIVALENTS.read_text())["equivalent"] if EQUIVALENTS.exists() else {}
    by_module = {module: ModuleScore(module) for module in RULE_MODULES}
    described = {name: "" for name in mutmut_results()}
    statuses = dict(mutmut_results())
    for name, (status, description) in constant_results().items():
        statuses[name], described[name] = status, description
    for name, status in statuses.items():
        module = name.split(".")[1]
        if module not in by_module:
            continue
        score = by_module[module]
        score.generated += 1
        if status == "not checked":
            score.unchecked += 1
        elif status in DETECTED:
            score.detected += 1
        elif name in equivalents:
            score.equivalent.append((name, equivalents[name]))
        else:
            score.survived.append(f"{name} {described[name]}".strip())
    stale = sorted(name for name in equivalents if statuses.get(name) not in ("survived", "no tests"))
    return list(by_module.values()), stale


def render(module_scores: list[ModuleScore], stale: list[str], seconds: float | None = None) -> str:
    git = shutil.which("git")
    commit = (
        subprocess.run(
            [git, "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=False
        ).stdout.strip()
        if git
        else "unknown"
    )
    if (
        git
        and subprocess.run(
            [git, "status", "--porcelain", "cancel_job", "tests"], cwd=REPO, capture_output=True, text=True, check=False
        ).stdout.strip()
    ):
        commit += " plus uncommitted changes"  # honest about what was measured
    lines = [
        "# Testing",
        "",
        "<!-- Written by `make mutate` (devtools/mutation_report.py); do not edit by hand. -->",
        "",
        "`make test` lints (ruff, ruff format, strict mypy) and runs the whole suite (what CI runs).",
        "`make mutate` checks that the tests notice when a rule changes: it mutates the rule modules",
        "and counts the mutants the fast tests (everything but Azurite, the soak, the fuzz and the",
        "benchmark smoke) fail on. `pacing_store.py` is left out: it is the I/O of the pacing rule,",
        "tested against Azurite, and the rule itself (`pacing.py`) is in.",
        "",
        "- **mutmut** (pinned in `requirements-dev.txt`, configured in `pyproject.toml`) mutates",
        '  the code inside functions. It runs with `process_isolation = "forkserver"`: its default',
        "  fork mode breaks on the tests that set OpenTelemetry's global tracer provider.",
        "- **`devtools/mutate_constants.py`** mutates what mutmut never touches: module-level",
        "  limits, patterns, sets and tables (numbers moved by one; elements dropped; regex",
        "  bounds moved, class members dropped, `?` dropped, `*` and `+` swapped).",
        "- A survivor is either equivalent, judged by hand with its reason in",
        "  `devtools/mutation_equivalents.toml`, or a gap. The goal: every rule module kills at",
        f"  least {GOAL:.0%} of its non-equivalent mutants.",
        "",
        "A run takes most of an hour on 2 cores, so it is not part of CI. mutmut runs 8 mutants at"
        " once: many of them wait (a mutated pacing rule sleeps on the real clock), so the cores"
        " would idle with one mutant each."
        + (f" The last one took {seconds / 60:.0f} minutes on {os.cpu_count()} cores." if seconds else ""),
        "",
        f"## Last run ({datetime.now(UTC):%Y-%m-%d}, commit `{commit}`)",
        "",
        "| module | mutants | equivalent | killed | survived | score | goal |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in module_scores:
        verdict = "met" if s.meets_goal else "**missed**"
        lines.append(
            f"| `{s.module}` | {s.generated} | {len(s.equivalent)} | {s.detected} | "
            f"{len(s.survived)} | {s.score:.1%} | {verdict} |"
        )
    total = ModuleScore("all")
    for s in module_scores:
        total.generated += s.generated
        total.detected += s.detected
        total.equivalent += s.equivalent
        total.survived += s.survived
        total.unchecked += s.unchecked
    lines += [
        f"| all | {total.generated} | {len(total.equivalent)} | {total.detected} | {len(total.survived)} | "
        f"{total.score:.1%} | |",
        "",
    ]
    if total.unchecked:
        lines += [f"{total.unchecked} mutants were not checked: the run did not finish.", ""]
    lines += ["## Survivors that are gaps", ""]
    lines += [f"- `{name}`" for name in total.survived] or ["None."]
    lines += [
        "",
        "## Equivalent mutants",
        "",
        "Each changes the code without changing what any caller can observe.",
        "",
    ]
    reasons = Counter(reason for _, reason in total.equivalent)
    for reason, count in reasons.most_common():
        names = [name for name, r in total.equivalent if r == reason]
        lines.append(f"- {reason} ({count}): " + ", ".join(f"`{n.split('.', 1)[1]}`" for n in names))
    if not total.equivalent:
        lines.append("None.")
    if stale:
        lines += [
            "",
            "Listed as equivalent but no longer surviving (the list needs tidying): "
            + ", ".join(f"`{n}`" for n in stale),
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when a module misses the goal")
    parser.add_argument("--seconds", type=float, help="how long the run took, for the page")
    args = parser.parse_args(argv)
    module_scores, stale = scores()
    PAGE.write_text(render(module_scores, stale, args.seconds), encoding="utf-8")
    for s in module_scores:
        print(
            f"{s.module:10} {s.score:6.1%}  {'met' if s.meets_goal else 'MISSED'}  "
            f"({s.detected} of {s.judged}; {len(s.equivalent)} equivalent)"
        )
    print(f"wrote {PAGE.relative_to(REPO)}")
    return 1 if args.check and not all(s.meets_goal for s in module_scores) else 0


if __name__ == "__main__":
    raise SystemExit(main())
