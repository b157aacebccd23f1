"""make clean removes every cache and build product that .gitignore lists, and keeps the
user's own settings (local.settings.json, azd's .azure/)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
KEPT = {"local.settings.json", ".azure/"}  # the user's settings, not something a command made
BESIDE_CODE = {"__pycache__/", "*.pyc"}


def _example_path(pattern: str) -> str:
    """A path that the .gitignore pattern matches: globs get a name of their own."""
    return pattern.replace("**/", "").replace("*", "example")


def _ignore_patterns() -> list[str]:
    lines = (REPO / ".gitignore").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


@pytest.mark.skipif(shutil.which("make") is None or shutil.which("git") is None, reason="needs make and git")
def test_make_clean_leaves_no_ignored_file_but_the_users_settings(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(REPO), str(clone)], check=True)
    shutil.copy(REPO / "Makefile", clone / "Makefile")  # the working tree's, committed or not
    shutil.copy(REPO / ".gitignore", clone / ".gitignore")
    for pattern in _ignore_patterns():
        # Python writes its caches beside the code; every other product is made at the top.
        for base in (clone, clone / "cancel_job") if pattern in BESIDE_CODE else (clone,):
            made = base / _example_path(pattern)
            if pattern.endswith("/"):
                (made / "inside").mkdir(parents=True, exist_ok=True)
                (made / "inside" / "file").write_text("x")
            else:
                made.parent.mkdir(parents=True, exist_ok=True)
                made.write_text("x")

    subprocess.run(["make", "--no-print-directory", "-s", "clean"], cwd=clone, check=True)

    status = subprocess.run(
        ["git", "status", "--ignored", "--porcelain=v1", "--untracked-files=all"],
        cwd=clone,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    left = sorted(line[3:] for line in status if line.startswith("!!"))
    kept = {path for path in left if any(path == k or path.startswith(k) for k in KEPT)}
    assert left and set(left) == kept, f"make clean left ignored files behind: {sorted(set(left) - kept)}"
