"""Mutation testing of module-level constants, which mutmut never mutates.

The rule modules keep their limits, patterns and sets at module level (``MAX_JOB_ID_LENGTH``,
``_JOB_ID``, ``RETRYABLE_STATUSES``...). For each such assignment this script makes small
mutants, one at a time, in a copy of the repository, and runs the module's tests against
each; a mutant the tests do not fail on "survived". Mutants:

- every number: ``n + 1`` and ``n - 1``;
- every element of a set, tuple, list or dict literal: removed;
- every string: each character removed when it is at most 4 long (``" \\t"``, ``"="``);
- regular expressions (strings passed to ``re.compile``, f-string parts included): each
  ``{m,n}`` bound moved by one, each element of a ``[...]`` class removed, each ``?`` and
  each inline flag group dropped, ``*`` and ``+`` swapped.

Mutants whose code is unchanged after ``ast.unparse`` are dropped. Results go to
``mutants/constants.json`` for ``devtools/mutation_report.py``.

    python -m devtools.mutate_constants [--jobs 2] [module ...]
"""

from __future__ import annotations

import argparse
import ast
import copy
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from devtools.progress import Progress

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "mutants" / "constants.json"

# The tests that exercise each rule module's constants (the fast ones: no Azurite).
TESTS = {
    "job_id": ["tests/test_job_id.py", "tests/test_messages.py"],
    "trace": ["tests/test_trace.py"],
    "retry": ["tests/test_retry.py"],
    "redact": ["tests/test_redact.py", "tests/test_core_units.py"],
    "messages": ["tests/test_messages.py"],
    "endpoints": ["tests/test_endpoints.py"],
    "outcomes": ["tests/test_core_units.py", "tests/test_outcomes.py"],
    "pacing": ["tests/test_pacing.py", "tests/test_shared_pacing.py"],
    "deferral": ["tests/test_deferral.py"],
    "decision": ["tests/test_decision.py"],
}
COPIED = [
    "cancel_job",
    "devtools",
    "tests",
    "docs",
    "function_app.py",
    "host.json",
    "pyproject.toml",
    "requirements.txt",
]
PYTEST = ["-x", "-q", "-n", "0", "-p", "no:cacheprovider", "-p", "no:randomly", "-m", "not azurite and not soak"]


@dataclass(frozen=True)
class Mutant:
    module: str
    constant: str
    line: int
    description: str
    source: str  # the whole mutated module

    number: int  # the mutant's place among those of its constant

    @property
    def name(self) -> str:
        return f"cancel_job.{self.module}.{self.constant}#{self.number}"


@dataclass(frozen=True)
class Result:
    name: str
    module: str
    description: str
    status: str  # "killed" or "survived"


# --- generating mutants ---------------------------------------------------------------

# A lower (or exact) bound "{m" and an upper bound ",n}"; f-string parts hold only one.
_BOUNDS = re.compile(r"\{(\d+)|,(\d+)\}")
_REGEX_LOOK = re.compile(r"\[|\(\?|\\[sdwx]|\{\d")
_INLINE_FLAGS = re.compile(r"\(\?[aiLmsux]+\)")


def _class_elements(body: str) -> list[tuple[int, int]]:
    """(start, end) of each element of a character class body: a range, an escape or a char."""
    elements, i = [], 0
    while i < len(body):
        start = i
        i += 2 if body[i] == "\\" and body[i + 1 : i + 2] != "x" else 1
        if body[start] == "\\" and body[start + 1 : start + 2] == "x":
            i = start + 4
        if i < len(body) - 1 and body[i] == "-":  # a range: the next element is its end
            i += 1
            i += 4 if body[i : i + 2] == "\\x" else (2 if body[i] == "\\" else 1)
        elements.append((start, i))
    return elements


def regex_mutations(pattern: str) -> Iterator[tuple[str, str]]:
    """(description, mutated pattern) for one regular expression's text."""
    yield from _bound_mutations(pattern)
    yield from _class_mutations(pattern)
    for match in _INLINE_FLAGS.finditer(pattern):
        yield f"drops {match.group()}", pattern[: match.start()] + pattern[match.end() :]
    yield from _quantifier_mutations(pattern)


def _bound_mutations(pattern: str) -> Iterator[tuple[str, str]]:
    """Each {m,n} bound one less and one more."""
    for match in _BOUNDS.finditer(pattern):
        for group in (1, 2):
            if match.group(group) is None:
                continue
            value = int(match.group(group))
            for new in (value - 1, value + 1):
                if new >= 0:
                    start, end = match.span(group)
                    yield f"bound {value}->{new}", pattern[:start] + str(new) + pattern[end:]


def _class_mutations(pattern: str) -> Iterator[tuple[str, str]]:
    """Each element dropped from a character class of two or more."""
    for match in re.finditer(r"\[((?:\\.|[^\]\\])+)\]", pattern):
        body_start = match.start(1)
        elements = _class_elements(match.group(1))
        if len(elements) < 2:
            continue
        for start, end in elements:
            removed = match.group(1)[start:end]
            yield (f"class drops {removed!r}", pattern[: body_start + start] + pattern[body_start + end :])


def _quantifier_mutations(pattern: str) -> Iterator[tuple[str, str]]:
    """Each optional ? dropped, and * and + swapped."""
    for i, char in enumerate(pattern):
        if i and pattern[i - 1] == "\\":
            continue
        if char == "?" and pattern[i - 1 : i] != "(" and pattern[i + 1 : i + 2] != ":":
            yield "drops ?", pattern[:i] + pattern[i + 1 :]
        elif char in "*+" and pattern[i - 1 : i] not in ("(", "["):
            swapped = "+" if char == "*" else "*"
            yield f"{char}->{swapped}", pattern[:i] + swapped + pattern[i + 1 :]


def _is_pair(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """A tuple inside a container (a row such as (pattern, replacement)): dropping one of its
    parts only breaks the unpacking, so only whole rows are dropped."""
    return isinstance(node, ast.Tuple) and isinstance(parents.get(node), ast.Set | ast.Tuple | ast.List)


def _is_regex(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """Is this string (or f-string part) the pattern of a re.compile call?"""
    while node in parents:
        parent = parents[node]
        if isinstance(parent, ast.Call) and isinstance(parent.func, ast.Attribute) and parent.func.attr == "compile":
            return True
        node = parent
    return False


def _node_mutations(value: ast.AST) -> Iterator[tuple[str, int, ast.AST]]:
    """(description, the node's place in ast.walk(value), replacement) for the nodes under ``value``."""
    parents = {child: parent for parent in ast.walk(value) for child in ast.iter_child_nodes(parent)}
    for where, node in enumerate(ast.walk(value)):
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            mutations = _number_mutations(node)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            mutations = _string_mutations(node, parents)
        elif isinstance(node, ast.Set | ast.Tuple | ast.List) and node.elts and not _is_pair(node, parents):
            mutations = _sequence_mutations(node)
        elif isinstance(node, ast.Dict) and node.keys:
            mutations = _dict_mutations(node)
        else:
            continue
        for description, replacement in mutations:
            yield description, where, replacement


def _number_mutations(node: ast.Constant) -> Iterator[tuple[str, ast.AST]]:
    for delta in (1, -1):
        yield f"{node.value}->{node.value + delta}", ast.Constant(node.value + delta)


def _string_mutations(node: ast.Constant, parents: dict[ast.AST, ast.AST]) -> Iterator[tuple[str, ast.AST]]:
    """A pattern's regex mutations; a short string (a separator, a prefix) loses a character."""
    text = node.value
    if _is_regex(node, parents) or _REGEX_LOOK.search(text):
        for description, mutated in regex_mutations(text):
            yield f"regex {description}", ast.Constant(mutated)
    elif 0 < len(text) <= 4:
        for i, char in enumerate(text):
            yield f"string {text!r} drops {char!r}", ast.Constant(text[:i] + text[i + 1 :])


def _sequence_mutations(node: ast.Set | ast.Tuple | ast.List) -> Iterator[tuple[str, ast.AST]]:
    for i, element in enumerate(node.elts):
        smaller: ast.AST = copy.deepcopy(node)
        del smaller.elts[i]
        if isinstance(node, ast.Set) and not smaller.elts:
            smaller = ast.Call(ast.Name("set"), [], [])
        yield f"drops element {ast.unparse(element)}", smaller


def _dict_mutations(node: ast.Dict) -> Iterator[tuple[str, ast.AST]]:
    for i, key in enumerate(node.keys):
        smaller = copy.deepcopy(node)
        del smaller.keys[i], smaller.values[i]
        yield f"drops key {ast.unparse(key) if key else '**'}", smaller


def _constant_assignments(tree: ast.Module) -> Iterator[tuple[int, str]]:
    for i, statement in enumerate(tree.body):
        targets = (
            statement.targets
            if isinstance(statement, ast.Assign)
            else [statement.target]
            if isinstance(statement, ast.AnnAssign) and statement.value
            else []
        )
        names = [t.id for t in targets if isinstance(t, ast.Name)]
        if names and names[0].lstrip("_").isupper():
            yield i, names[0]


def module_mutants(module: str) -> list[Mutant]:
    source = (REPO / "cancel_job" / f"{module}.py").read_text(encoding="utf-8")
    tree = ast.parse(source)
    original = ast.unparse(tree)
    mutants, seen = [], {original}
    for statement_index, name in _constant_assignments(tree):
        statement = tree.body[statement_index]
        for description, node_index, replacement in _node_mutations(statement.value):
            mutated_tree = copy.deepcopy(tree)
            value = mutated_tree.body[statement_index].value
            target = list(ast.walk(value))[node_index]
            if target is value:
                mutated_tree.body[statement_index].value = replacement
            else:
                parent = next(p for p in ast.walk(value) if target in list(ast.iter_child_nodes(p)))
                _replace_child(parent, target, replacement)
            mutated = ast.unparse(ast.fix_missing_locations(mutated_tree))
            if mutated in seen:
                continue
            seen.add(mutated)
            number = sum(m.constant == name for m in mutants) + 1
            mutants.append(Mutant(module, name, statement.lineno, description, mutated, number))
    return mutants


def _replace_child(parent: ast.AST, old: ast.AST, new: ast.AST) -> None:
    for field, value in ast.iter_fields(parent):
        if value is old:
            setattr(parent, field, new)
            return
        if isinstance(value, list):
            for i, item in enumerate(value):
                if item is old:
                    value[i] = new
                    return


# --- running them ---------------------------------------------------------------------


def _workspace() -> Path:
    root = Path(tempfile.mkdtemp(prefix="mutate-constants-"))
    for name in COPIED:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, root / name)
    return root


# A mutant may turn a wait loop on the fake clock into an endless one: it is stopped after
# this many times its module's clean test time (and never sooner than the floor).
TIMEOUT_FACTOR = 10
TIMEOUT_FLOOR_SECONDS = 30.0


def clean_seconds(workspace: Path, module: str) -> float:
    """How long the module's tests take unmutated (they must pass)."""
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "pytest", *PYTEST, *_tests(workspace, module)],
        cwd=workspace,
        capture_output=True,
        check=True,
    )
    return time.monotonic() - started


def _tests(workspace: Path, module: str) -> list[str]:
    return [t for t in TESTS[module] if (workspace / t).exists()]


def run_mutant(workspace: Path, mutant: Mutant, timeout: float = 600.0) -> Result:
    target = workspace / "cancel_job" / f"{mutant.module}.py"
    original = target.read_text(encoding="utf-8")
    target.write_text(mutant.source, encoding="utf-8")
    try:
        completed = subprocess.run(
            [sys.executable, "-m", "pytest", *PYTEST, *_tests(workspace, mutant.module)],
            cwd=workspace,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        status = "survived" if completed.returncode == 0 else "killed"
    except subprocess.TimeoutExpired:
        status = "killed"  # a hang is noticed too
    finally:
        target.write_text(original, encoding="utf-8")
    return Result(mutant.name, mutant.module, mutant.description, status)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", default=sorted(TESTS))
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    mutants = [m for module in args.modules for m in module_mutants(module)]
    print(f"{len(mutants)} constant mutants in {len(args.modules)} modules", flush=True)
    workspaces = [_workspace() for _ in range(args.jobs)]
    results: list[Result] = []
    try:
        with Progress("mutate constants", 2) as steps:
            with steps.step(f"each of {len(args.modules)} modules' tests, unmutated, for its timeout"):
                timeouts = {
                    module: max(TIMEOUT_FLOOR_SECONDS, TIMEOUT_FACTOR * clean_seconds(workspaces[0], module))
                    for module in args.modules
                }
            with steps.step(f"{len(mutants)} mutants on {args.jobs} workers", total=len(mutants)) as step:

                def test_chunk(workspace: Path, chunk: list[Mutant]) -> list[Result]:
                    done = []
                    for mutant in chunk:
                        done.append(run_mutant(workspace, mutant, timeouts[mutant.module]))
                        step.advance()
                    return done

                with ThreadPoolExecutor(args.jobs) as pool:
                    # Each worker owns one workspace: a mutant is written, tested and restored there.
                    chunks = [mutants[i :: args.jobs] for i in range(args.jobs)]
                    futures = [pool.submit(test_chunk, ws, chunk) for ws, chunk in zip(workspaces, chunks, strict=True)]
                    for future in futures:
                        results += future.result()
    finally:
        for workspace in workspaces:
            shutil.rmtree(workspace, ignore_errors=True)
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    kept = [r for r in previous if r["module"] not in args.modules]
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(kept + [asdict(r) for r in results], indent=1))
    for result in results:
        if result.status == "survived":
            print(f"survived: {result.name} ({result.description})")
    killed = sum(r.status == "killed" for r in results)
    print(f"{killed} of {len(results)} killed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
