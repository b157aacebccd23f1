"""`python -m devtools.stack`: the whole local stack from one command, used as the README
says (curl with the printed token, the CLI's enqueue and results), then stopped with Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import requests

from devtools.azurite import REPO_ROOT
from tests.helpers import wait_for

pytestmark = pytest.mark.azurite


def test_the_stack_starts_serves_and_stops_on_ctrl_c(tmp_path) -> None:
    log = (tmp_path / "stack.log").open("w")  # a file, not a pipe nobody reads
    process = subprocess.Popen(
        [sys.executable, "-m", "devtools.stack", "--http-port", "0"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    try:
        exports: dict[str, str] = {}
        hints: list[str] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line or line.strip() == "ready":
                break
            if line.startswith("export "):
                name, _, value = line[len("export ") :].strip().partition("=")
                exports[name] = value.strip("'")
            if line.startswith("#   "):
                hints.append(line[4:].strip())
        log.flush()
        assert "ERROR" not in (tmp_path / "stack.log").read_text()  # nothing that is not an error says it is
        assert {
            "ADT_ENDPOINT",
            "IDENTITY_ENDPOINT",
            "IDENTITY_HEADER",
            "STORAGE_CONNECTION",
            "FUNCTION_URL",
            "FUNCTION_TOKEN",
        } <= set(exports)
        # HTTP, as curl would: the printed token opens it, and nothing else does
        cancel_url = f"{exports['FUNCTION_URL']}/jobs/imports/importjob1/cancel"
        assert requests.post(cancel_url, timeout=30).status_code == 401
        answer = requests.post(cancel_url, headers={"Authorization": f"Bearer {exports['FUNCTION_TOKEN']}"}, timeout=30)
        assert answer.status_code == 200 and answer.json()["id"] == "importjob1"
        # the queue, through the CLI with the printed settings
        env = {**os.environ, **exports}
        cli = [sys.executable, "-m", "cancel_job"]
        subprocess.run([*cli, "enqueue", "importjob2"], env=env, cwd=REPO_ROOT, check=True, capture_output=True)

        def result_for_job2() -> bool:
            out = subprocess.run([*cli, "results", "--json"], env=env, cwd=REPO_ROOT, capture_output=True, text=True)
            return any(job.get("id") == "importjob2" for job in json.loads(out.stdout or "[]"))

        wait_for(result_for_job2, timeout=30, interval=0.5)
        # The printed hints work as printed, from a shell in another folder, with the exports.
        exported = "; ".join(f"export {name}='{value}'" for name, value in exports.items())
        for hint in hints[1:]:  # the curl line needs curl; the CLI lines need only the shell
            done = subprocess.run(
                ["bash", "-c", f"{exported}; {hint}"],
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=60,
                env={"PATH": os.environ["PATH"]},
            )
            assert done.returncode == 0, done.stderr[-2000:]
    finally:
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
            process.stdout.close()
            log.close()
    assert code == 0, (tmp_path / "stack.log").read_text()[-2000:]
