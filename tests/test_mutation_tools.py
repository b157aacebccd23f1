"""The mutation tooling (make mutate) does what docs/testing.md says: the constant mutator
makes the documented mutants and notices a kill, and the report scores them honestly."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from devtools import mutate_constants, mutation_report
from devtools.mutate_constants import module_mutants, regex_mutations

REPO = Path(__file__).resolve().parent.parent


def test_regex_mutations_move_bounds_drop_class_members_and_flags() -> None:
    found = dict((mutated, description) for description, mutated in regex_mutations("(?i)[a-z_]{1,3}x?y*"))
    assert found == {
        "(?i)[a-z_]{0,3}x?y*": "bound 1->0",
        "(?i)[a-z_]{2,3}x?y*": "bound 1->2",
        "(?i)[a-z_]{1,2}x?y*": "bound 3->2",
        "(?i)[a-z_]{1,4}x?y*": "bound 3->4",
        "(?i)[_]{1,3}x?y*": "class drops 'a-z'",
        "(?i)[a-z]{1,3}x?y*": "class drops '_'",
        "[a-z_]{1,3}x?y*": "drops (?i)",
        "(?i)[a-z_]{1,3}xy*": "drops ?",
        "(?i)[a-z_]{1,3}x?y+": "*->+",
    }


def test_escapes_and_hex_ranges_are_single_class_members() -> None:
    members = {description for description, _ in regex_mutations(r"[\x20-\x2b\s\"]")}
    assert members == {r"class drops '\\x20-\\x2b'", r"class drops '\\s'", "class drops '\\\\\"'"}


def test_every_rule_module_with_constants_gets_mutants_named_stably() -> None:
    for module in ("job_id", "trace", "retry", "redact", "messages", "endpoints", "outcomes"):
        mutants = module_mutants(module)
        assert mutants, module
        assert len({m.name for m in mutants}) == len(mutants)
        assert all(m.source != (REPO / "cancel_job" / f"{module}.py").read_text() for m in mutants)
    limits = {m.description for m in module_mutants("job_id") if m.constant == "MAX_JOB_ID_LENGTH"}
    assert limits == {"128->129", "128->127"}
    margins = {m.description for m in module_mutants("pacing") if m.constant == "CLOCK_MARGIN"}
    assert margins  # the fleet-wide gate's margin and store pauses are module constants too


def test_a_mutant_the_tests_notice_is_killed_and_one_they_do_not_survives(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(mutate_constants, "TESTS", {"job_id": ["tests/test_job_id.py"]})
    workspace = mutate_constants._workspace()
    try:
        limit = next(m for m in module_mutants("job_id") if m.description == "128->129")
        assert mutate_constants.run_mutant(workspace, limit).status == "killed"
        harmless = mutate_constants.Mutant(
            "job_id", "X", 1, "adds a comment", (REPO / "cancel_job/job_id.py").read_text() + "\n# harmless\n", 1
        )
        assert mutate_constants.run_mutant(workspace, harmless).status == "survived"
        assert (workspace / "cancel_job/job_id.py").read_text() == (REPO / "cancel_job/job_id.py").read_text()
    finally:
        import shutil

        shutil.rmtree(workspace)


@pytest.fixture
def fake_run(tmp_path: Path, monkeypatch) -> Path:
    mutants = tmp_path / "mutants"
    (mutants / "cancel_job").mkdir(parents=True)
    meta = {
        "exit_code_by_key": {
            "cancel_job.job_id.x_f__mutmut_1": 1,
            "cancel_job.job_id.x_f__mutmut_2": 0,
            "cancel_job.job_id.x_f__mutmut_3": 0,
            "cancel_job.retry.x_g__mutmut_1": None,
        }
    }
    (mutants / "cancel_job" / "job_id.py.meta").write_text(json.dumps(meta))
    (mutants / "constants.json").write_text(
        json.dumps(
            [{"name": "cancel_job.job_id.LIMIT#1", "module": "job_id", "description": "1->2", "status": "killed"}]
        )
    )
    equivalents = tmp_path / "eq.toml"
    equivalents.write_text(
        '[equivalent]\n"cancel_job.job_id.x_f__mutmut_2" = "same result"\n"cancel_job.job_id.gone" = "stale"\n'
    )
    monkeypatch.setattr(mutation_report, "MUTANTS", mutants)
    monkeypatch.setattr(mutation_report, "EQUIVALENTS", equivalents)
    return tmp_path


def test_the_report_scores_killed_over_non_equivalent_and_flags_what_is_unfinished(fake_run: Path) -> None:
    scores, stale = mutation_report.scores()
    job_id = next(s for s in scores if s.module == "job_id")
    assert (job_id.generated, job_id.detected, job_id.judged) == (4, 2, 3)
    assert job_id.equivalent == [("cancel_job.job_id.x_f__mutmut_2", "same result")]
    assert job_id.survived == ["cancel_job.job_id.x_f__mutmut_3"]
    assert job_id.score == pytest.approx(2 / 3) and not job_id.meets_goal
    retry = next(s for s in scores if s.module == "retry")
    assert retry.unchecked == 1 and not retry.meets_goal  # an unfinished run never meets the goal
    assert stale == ["cancel_job.job_id.gone"]
    page = mutation_report.render(scores, stale)
    assert "| `job_id` | 4 | 1 | 2 | 1 | 66.7% | **missed** |" in page
    assert "same result (1): `job_id.x_f__mutmut_2`" in page and "`cancel_job.job_id.gone`" in page
    assert "The last one took 30 minutes" in mutation_report.render(scores, stale, seconds=1800)


def test_the_equivalents_file_gives_a_reason_for_each_entry() -> None:
    equivalents = tomllib.loads((REPO / "devtools" / "mutation_equivalents.toml").read_text())["equivalent"]
    assert equivalents and all(isinstance(r, str) and len(r) > 20 for r in equivalents.values())
    assert all(name.split(".")[1] in mutation_report.RULE_MODULES for name in equivalents)
