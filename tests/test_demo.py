"""make demo, as a new user runs it: a separate process that ends with the job cancelled."""

from __future__ import annotations

import subprocess
import sys

from devtools.azurite import REPO_ROOT
from devtools.demo import ACCEPTED_WHILE_RUNNING


def test_the_demo_follows_the_cancel_to_cancelled_and_says_why_it_waits() -> None:
    demo = subprocess.run(
        [sys.executable, "-m", "devtools.demo", "--job-id", "demojob1"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    lines = demo.stdout.splitlines()
    assert ACCEPTED_WHILE_RUNNING in lines
    assert [line.split(": ")[-1] for line in lines if "job status in ADT" in line] == [
        "running",
        "cancelling",
        "cancelled",
    ]
    assert '"status": "cancelled"' in demo.stdout
    assert lines[-1].startswith("import job 'demojob1' cancelled, ") and lines[-1].endswith(" s after the request")
    assert "Traceback" not in demo.stderr
