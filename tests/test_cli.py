"""The enqueue CLI against Azurite: messages as the host expects them, and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from azure.storage.queue import QueueClient

from cancel_job.cli import main
from cancel_job.contract import REQUESTS_QUEUE
from devtools.azurite import REPO_ROOT
from tests.helpers import VALID_TRACEPARENT

pytestmark = pytest.mark.azurite


def peek_requests(connection_string: str) -> list[dict]:
    queue = QueueClient.from_connection_string(connection_string, REQUESTS_QUEUE)
    return [json.loads(m.content) for m in queue.peek_messages(max_messages=32)]


def test_enqueue_writes_plain_json_messages(azurite, capsys) -> None:
    code = main(
        [
            "enqueue",
            "job-a",
            "job-b",
            "--connection-string",
            azurite.connection_string,
            "--traceparent",
            VALID_TRACEPARENT,
            "--tracestate",
            "k=v",
            "--json",
        ]
    )
    assert code == 0
    messages = peek_requests(azurite.connection_string)
    assert [m["jobId"] for m in messages] == ["job-a", "job-b"]
    assert all(m["traceparent"] == VALID_TRACEPARENT and m["tracestate"] == "k=v" for m in messages)
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [p["jobId"] for p in printed] == ["job-a", "job-b"]


def test_enqueue_starts_a_trace_per_message_and_reads_the_setting(azurite, monkeypatch) -> None:
    monkeypatch.setenv("STORAGE_CONNECTION", azurite.connection_string)
    assert main(["enqueue", "job-a", "job-b"]) == 0
    traces = {m["traceparent"].split("-")[1] for m in peek_requests(azurite.connection_string)}
    assert len(traces) == 2


@pytest.mark.parametrize(
    "args",
    [
        ["enqueue", "a/b"],
        ["enqueue", "ok", ".."],
        ["enqueue", "ok", "--traceparent", "00-bad"],
        ["enqueue", "ok", "--tracestate", "k=v"],
        ["enqueue", "ok", "--traceparent", VALID_TRACEPARENT, "--tracestate", "K=v"],
        ["enqueue", "ok", "--queue-url", "http://myacct.queue.core.windows.net/q"],
        ["enqueue"],
        ["frobnicate"],
    ],
)
def test_usage_errors_exit_2_and_enqueue_nothing(azurite, args: list[str], capsys) -> None:
    assert main([*args, "--connection-string", azurite.connection_string]) == 2
    assert peek_requests(azurite.connection_string) == []
    assert capsys.readouterr().err.strip()


def test_missing_connection_exits_2(monkeypatch, capsys) -> None:
    monkeypatch.delenv("STORAGE_CONNECTION", raising=False)
    assert main(["enqueue", "job1"]) == 2
    assert "STORAGE_CONNECTION" in capsys.readouterr().err


def test_unreachable_storage_exits_1_without_leaking_the_key(capsys) -> None:
    from devtools.azurite import ACCOUNT_KEY, free_loopback_port

    dead = (
        f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={ACCOUNT_KEY};"
        f"QueueEndpoint=http://127.0.0.1:{free_loopback_port()}/devstoreaccount1;"
    )
    import os
    import time

    env = {**os.environ, "STORAGE_CONNECTION": dead}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "cancel_job", "enqueue", "job1", "--retries", "0"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, (time.monotonic() - started, result.stderr)
    assert "could not enqueue job1" in result.stderr
    assert ACCOUNT_KEY not in result.stderr + result.stdout


@pytest.mark.parametrize("command", ["", "cancel", "status", "list", "enqueue", "results", "failures"])
def test_help_explains_each_command_with_an_example(command: str) -> None:
    args = [sys.executable, "-m", "cancel_job", *([command] if command else []), "--help"]
    result = subprocess.run(args, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert "example" in result.stdout and f"python -m cancel_job {command}".strip() in result.stdout


@pytest.mark.parametrize("command", ["", "cancel", "status", "list", "enqueue", "results", "failures", "redrive"])
def test_every_help_example_with_a_flag_says_what_the_flag_changes(command: str, capsys) -> None:
    assert main([*([command] if command else []), "--help"]) == 0
    text = capsys.readouterr().out
    examples = [line for line in text.split("example")[-1].splitlines() if "python -m cancel_job" in line]
    assert examples
    for line in examples:
        if " --" in line.split("#")[0]:
            assert "#" in line and line.split("#", 1)[1].strip(), f"an example's flag is not explained: {line!r}"


def test_status_help_says_the_default_is_pretty_json_and_json_is_one_compact_line(emulator, app_env, capsys) -> None:
    assert main(["status", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "pretty-printed" in text and "--json one compact JSON line" in text
    emulator.add_job("importjob1", status="running")
    assert main(["status", "importjob1"]) == 0
    pretty = capsys.readouterr().out
    assert main(["status", "importjob1", "--json"]) == 0
    compact = capsys.readouterr().out
    assert pretty.count("\n") > 3 and compact.count("\n") == 1
    assert json.loads(pretty) == json.loads(compact)
