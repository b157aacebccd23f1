"""The ops CLI against the emulator (cancel, status, list) and Azurite (enqueue, results,
failures): output, --json and exit codes."""

from __future__ import annotations

import base64
import io
import json

import pytest

from cancel_job.cli import main
from cancel_job.contract import FAILURES_QUEUE, RESULTS_QUEUE
from cancel_job.queues import queue_client
from devtools.adt_emulator import Fault
from tests.spec_schema import assert_valid


def test_cancel_prints_the_import_job(app_env, emulator, capsys) -> None:
    emulator.add_job("job1")
    assert main(["cancel", "job1"]) == 0
    job = json.loads(capsys.readouterr().out)
    assert_valid("ImportJob", job)
    assert job["status"] == "running" and emulator.state.cancels_applied == 1  # as ADT answers a cancel


def test_cancel_wait_follows_the_job_to_cancelled(app_env, emulator, capsys) -> None:
    emulator.configure(cancel_duration=1.5)
    emulator.add_job("job1")
    assert main(["cancel", "job1", "--wait", "--timeout", "30"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["status"] == "cancelled"
    assert "job1: cancelling" in captured.err  # the progress line
    gets = [r for r in emulator.requests if r.method == "GET"]
    assert 1 <= len(gets) <= 3  # polled with growing pauses, not hammered


def test_cancel_wait_on_a_job_that_ends_on_its_own_is_not_cancellable(app_env, emulator, capsys) -> None:
    import threading

    emulator.configure(cancel_accept_delay=3600)
    emulator.add_job("job1")
    threading.Timer(0.3, emulator.set_status, ("job1", "succeeded")).start()
    assert main(["cancel", "job1", "--wait", "--timeout", "10", "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["error"]["code"] == "JobNotCancellable" and out["job"]["status"] == "succeeded"


def test_cancel_wait_times_out_with_exit_1(app_env, emulator, capsys) -> None:
    emulator.configure(cancel_duration=3600)
    emulator.add_job("job1")
    assert main(["cancel", "job1", "--wait", "--timeout", "2", "--json"]) == 1
    error = json.loads(capsys.readouterr().out)
    assert error["error"]["code"] == "WaitTimedOut" and "cancelling" in error["error"]["message"]


@pytest.mark.parametrize(
    ("args", "code", "text"),
    [
        (["cancel", "nosuchjob"], 1, "JobNotFound"),
        (["cancel", "a/b"], 2, "InvalidJobId"),
        (["cancel", "job1", "--instance", "evil.example"], 2, "InstanceNotAllowed"),
        (["status", "nosuchjob"], 1, "JobNotFound"),
        (["cancel", "job1", "--endpoint", "http://not-loopback.example"], 2, "plain http"),
    ],
)
def test_failures_and_usage_errors(app_env, emulator, capsys, args, code, text) -> None:
    assert main(args) == code
    assert text in capsys.readouterr().err


def test_finished_job_is_not_cancellable_exit_1_json(app_env, emulator, capsys) -> None:
    emulator.add_job("job1", status="succeeded")
    assert main(["cancel", "job1", "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["error"]["code"] == "JobNotCancellable" and out["httpStatus"] == 200  # ADT's status for the cancel


def test_missing_endpoint_is_a_usage_error(monkeypatch, capsys) -> None:
    monkeypatch.delenv("ADT_ENDPOINT", raising=False)
    assert main(["status", "job1"]) == 2
    assert "ADT_ENDPOINT" in capsys.readouterr().err


def test_status_and_list_through_all_pages(app_env, emulator, capsys) -> None:
    emulator.configure(page_size=3)
    for i in range(7):
        emulator.add_job(f"job{i}", status="succeeded" if i % 2 else "running")
    assert main(["status", "job3", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "succeeded"
    assert main(["list", "--json"]) == 0
    assert [j["id"] for j in json.loads(capsys.readouterr().out)] == [f"job{i}" for i in range(7)]
    assert main(["list"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["ID", "STATUS", "CREATED", "FINISHED"] and len(table) == 8
    lists = [r for r in emulator.requests if r.path == "/jobs/imports"]
    assert len(lists) == 3 * 2  # three pages, twice


def test_list_survives_a_throttled_page(app_env, emulator, capsys) -> None:
    emulator.add_job("job1")
    emulator.inject(Fault(op="list", status=429, headers={"retry-after-ms": "10"}))
    assert main(["list", "--json"]) == 0
    assert [j["id"] for j in json.loads(capsys.readouterr().out)] == ["job1"]


@pytest.mark.azurite
def test_enqueue_from_file_and_stdin_with_a_progress_bar(azurite, monkeypatch, tmp_path, capsys) -> None:
    monkeypatch.setenv("STORAGE_CONNECTION", azurite.connection_string)
    ids = tmp_path / "ids.txt"
    ids.write_text("# to cancel\njob-a\n\njob-b\n")
    monkeypatch.setattr("sys.stdin", io.StringIO("job-c\njob-d\n"))
    assert main(["enqueue", "--file", str(ids), "-", "--progress", "--wait-for-completion"]) == 0
    captured = capsys.readouterr()
    assert "4/4" in captured.err and "enqueued 4 cancel requests" in captured.out
    assert main(["enqueue", "--file", str(tmp_path / "missing.txt")]) == 2


@pytest.mark.azurite
def test_results_and_failures_peek_and_drain(azurite, monkeypatch, capsys) -> None:
    monkeypatch.setenv("STORAGE_CONNECTION", azurite.connection_string)
    queue_client(RESULTS_QUEUE).send_message(json.dumps({"id": "job1", "status": "cancelled"}))
    record = {
        "jobId": "job2",
        "error": {"code": "ImportJobNotFound", "message": "gone"},
        "httpStatus": 404,
        "dequeueCount": 1,
        "request": "job2",
        "failedDateTime": "2026-11-29T06:00:00Z",
    }
    queue_client(FAILURES_QUEUE).send_message(json.dumps(record))  # plain JSON, as written since messageEncoding none
    older = {**record, "jobId": "job3"}  # base64 JSON, as written before the upgrade
    queue_client(FAILURES_QUEUE).send_message(base64.b64encode(json.dumps(older).encode()).decode())

    assert main(["results"]) == 0
    assert "job1" in capsys.readouterr().out
    assert main(["failures"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["JOB", "CODE", "HTTP"] and "ImportJobNotFound" in table[1]
    assert table[2].split()[0] == "job3"
    assert main(["failures", "--json"]) == 0  # peeking leaves the message
    assert json.loads(capsys.readouterr().out) == [record, older]
    assert main(["failures", "--drain", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == [record, older]
    assert main(["failures", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_console_script_is_declared() -> None:
    import tomllib

    from devtools.azurite import REPO_ROOT

    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["adt-import-cancel"] == "cancel_job.cli:main"


@pytest.mark.azurite
def test_a_look_and_a_drain_read_past_storages_32_message_limit_and_say_what_remains(
    azurite, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("STORAGE_CONNECTION", azurite.connection_string)
    results = queue_client(RESULTS_QUEUE)
    for i in range(40):
        results.send_message(json.dumps({"id": f"job{i}", "status": "cancelled"}))
    everything = sorted(f"job{i}" for i in range(40))
    assert main(["results", "--json", "--max", "100"]) == 0  # a look pages through, then releases
    captured = capsys.readouterr()
    assert sorted(j["id"] for j in json.loads(captured.out)) == everything and "more" not in captured.err
    assert main(["results", "--json", "--max", "35"]) == 0
    captured = capsys.readouterr()
    assert len(json.loads(captured.out)) == 35
    assert "5 more on import-cancel-results (--max 40 shows them)" in captured.err  # never hidden in silence
    assert main(["results", "--drain", "--json", "--max", "100"]) == 0
    assert sorted(j["id"] for j in json.loads(capsys.readouterr().out)) == sorted(f"job{i}" for i in range(40))
    assert main(["results", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_cancel_wait_waits_the_whole_timeout_and_ends_its_progress_line(app_env, emulator, capsys) -> None:
    import time

    emulator.configure(cancel_accept_delay=3600)
    emulator.add_job("job1")
    started = time.monotonic()
    assert main(["cancel", "job1", "--wait", "--timeout", "3"]) == 1
    assert time.monotonic() - started >= 3.0  # it does not give up early
    err = capsys.readouterr().err
    assert "job1: running" in err and "\nerror: WaitTimedOut" in err  # the line ended before the error


@pytest.mark.parametrize("timeout", ["0", "-5", "nan", "inf"])
def test_cancel_wait_needs_a_positive_timeout(app_env, emulator, capsys, timeout) -> None:
    emulator.add_job("job1")
    assert main(["cancel", "job1", "--wait", "--timeout", timeout]) == 2
    assert "--timeout" in capsys.readouterr().err
    assert emulator.state.cancels_applied == 0  # nothing was done


def test_a_configuration_error_names_only_the_setting(app_env, emulator, monkeypatch, capsys) -> None:
    monkeypatch.setenv("CANCEL_DEADLINE_SECONDS", "s3cr3t-value")
    assert main(["status", "job1"]) == 2
    err = capsys.readouterr().err
    assert "CANCEL_DEADLINE_SECONDS" in err and "s3cr3t-value" not in err and "--endpoint" not in err


@pytest.mark.azurite
def test_enqueue_from_a_file_that_is_not_utf8_is_a_usage_error(azurite, monkeypatch, tmp_path, capsys) -> None:
    from azure.storage.queue import QueueClient

    from cancel_job.contract import REQUESTS_QUEUE

    monkeypatch.setenv("STORAGE_CONNECTION", azurite.connection_string)
    ids = tmp_path / "ids.txt"
    ids.write_bytes(b"job-a\njob-\xff\xfeb\n")
    assert main(["enqueue", "--file", str(ids)]) == 2
    assert "not UTF-8" in capsys.readouterr().err
    queue = QueueClient.from_connection_string(azurite.connection_string, REQUESTS_QUEUE)
    assert list(queue.peek_messages(max_messages=32)) == []


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_tables_are_rich_on_a_terminal_and_plain_when_piped() -> None:
    from cancel_job.cli.output import _table

    rows = [{"jobId": "job1", "code": "JobNotFound"}, {"jobId": "job2", "code": None}]
    columns = [("jobId", "JOB"), ("code", "CODE")]
    piped, terminal = io.StringIO(), _Terminal()
    _table(rows, columns, piped)
    _table(rows, columns, terminal)
    plain = piped.getvalue()
    assert "\x1b" not in plain and "─" not in plain  # no colour, no box: text for grep and awk
    assert [line.split() for line in plain.splitlines()] == [["JOB", "CODE"], ["job1", "JobNotFound"], ["job2"]]
    assert "\x1b[" in terminal.getvalue() and "─" in terminal.getvalue()  # bold header, a rule under it


def test_the_wait_status_is_a_live_line_on_a_terminal_and_plain_lines_otherwise() -> None:
    from cancel_job.cli.output import WaitStatus

    piped = io.StringIO()
    status = WaitStatus(enabled=True, stream=piped)
    status.show("job1: running (0 s)")
    status.show("job1: cancelling (2 s)")
    status.close()
    assert piped.getvalue().splitlines() == ["job1: running (0 s)", "job1: cancelling (2 s)"]
    terminal = _Terminal()
    status = WaitStatus(enabled=True, stream=terminal)
    status.show("job1: running (0 s)")
    assert status._live is not None  # rich's live status line, with its spinner
    status.close()
    quiet = io.StringIO()
    WaitStatus(enabled=False, stream=quiet).show("job1: running (0 s)")  # --json: nothing on stderr
    assert quiet.getvalue() == ""


NOTHING_LISTENS = (
    "DefaultEndpointsProtocol=http;AccountName=none;AccountKey=bm9uZQ==;QueueEndpoint=http://127.0.0.1:9/none;"
)


@pytest.mark.parametrize(
    "argv, reason",
    [
        (["failures", "--max", "-1"], "--max must be a whole number from 1"),
        (["results", "--max", "0"], "--max must be a whole number from 1"),
        (["failures", "--drain", "--max", "0"], "--max must be a whole number from 1"),
        (["results", "--retries", "-1"], "--retries must be 0 or more"),
    ],
)
def test_bad_numbers_are_usage_errors_before_any_call(argv, reason, monkeypatch, capsys) -> None:
    monkeypatch.setenv("STORAGE_CONNECTION", NOTHING_LISTENS)  # a call would fail (exit 1), not exit 2
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert reason in captured.err and "Traceback" not in captured.err


def test_enqueue_names_the_file_the_line_and_the_bad_id(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("STORAGE_CONNECTION", NOTHING_LISTENS)
    ids = tmp_path / "ids.txt"
    ids.write_text("# batch 7\njob-a\n\njob-b\nbad/id\x1b[31m\njob-c\n")
    assert main(["enqueue", "--file", str(ids)]) == 2
    err = capsys.readouterr().err
    assert f"{ids} line 5: invalid job id 'bad/id\\\\x1b[31m'" in err and "nothing was enqueued" in err
    assert main(["enqueue", "job-a", "../x"]) == 2
    assert "argument 2: invalid job id '../x'" in capsys.readouterr().err


@pytest.mark.azurite
def test_the_failures_table_shows_the_entry_the_caller_the_delivery_and_a_request_without_an_id(
    azurite, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("STORAGE_CONNECTION", azurite.connection_string)
    failures = queue_client(FAILURES_QUEUE)
    base = {"error": {"code": "X", "message": "m"}, "httpStatus": None, "failedDateTime": "2026-12-07T03:00:00Z"}
    caller = {"objectId": "6a7b8c9d-2222-4000-8000-00000000ca11", "appId": "0d1e5c4a-1111-4000-8000-00000000ca11"}
    failures.send_message(
        json.dumps({**base, "jobId": "job-h", "entry": "http", "dequeueCount": 0, "request": "job-h", "caller": caller})
    )
    failures.send_message(
        json.dumps({**base, "jobId": None, "entry": "queue", "dequeueCount": 3, "request": "!garbage message text"})
    )
    failures.send_message(json.dumps({**base, "jobId": "job-old", "dequeueCount": 0, "request": "job-old"}))
    assert main(["failures"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert rows[0][:6] == ["JOB", "CODE", "HTTP", "ENTRY", "CALLER", "DELIVERY"]
    assert rows[1][:4] == ["job-h", "X", "http", caller["objectId"]]  # who asked: the object id on the allow-list
    assert rows[1][4] == "2026-12-07T03:00:00Z"  # no delivery column value
    assert rows[2][:5] == ["(!garbage", "message", "text)", "X", "queue"] and rows[2][5] == "3"
    assert rows[3][:3] == ["job-old", "X", "http"]  # written before the entry field: delivery 0 was HTTP


# Every command the docs show, given bad input: an error line and exit 2 (or 1 where a call
# was made and failed), never a traceback.
BAD_INPUT = [
    ["cancel", "../etc"],
    ["cancel", "job1", "--wait", "--timeout", "0"],
    ["cancel", "job1", "--timeout", "x"],
    ["cancel", "job1", "--instance", "http://evil.example"],
    ["status", ""],
    ["status", "a" * 200],
    ["list", "--instance", "not a host"],
    ["enqueue"],
    ["enqueue", "bad id"],
    ["enqueue", "job1", "--tracestate", "a=1"],
    ["enqueue", "job1", "--traceparent", "00-zz"],
    ["enqueue", "--file", "/nonexistent/ids.txt"],
    ["results", "--max", "many"],
    ["failures", "--max", "-5"],
    ["failures", "--retries", "-2"],
    ["redrive"],
    ["redrive", "everything"],
    ["redrive", "failures"],
    ["redrive", "poison", "--max", "0"],
    ["nosuchcommand"],
    [],
]


@pytest.mark.parametrize("argv", BAD_INPUT, ids=lambda argv: " ".join(argv) or "(nothing)")
def test_no_documented_command_ends_in_a_traceback_on_bad_input(argv, app_env, monkeypatch, capsys) -> None:
    monkeypatch.setenv("STORAGE_CONNECTION", NOTHING_LISTENS)
    code = main(argv)
    captured = capsys.readouterr()
    assert code in (1, 2)
    assert "Traceback" not in captured.err + captured.out
    assert captured.err.strip()  # it says what was wrong


@pytest.mark.azurite
def test_the_results_table_says_a_running_job_had_its_cancel_accepted(azurite, monkeypatch, capsys) -> None:
    monkeypatch.setenv("STORAGE_CONNECTION", azurite.connection_string)
    for job_id, status in [("job1", "running"), ("job2", "cancelling"), ("job3", "cancelled"), ("job4", "newStatus")]:
        queue_client(RESULTS_QUEUE).send_message(json.dumps({"id": job_id, "status": status}))

    assert main(["results"]) == 0
    header, *rows = capsys.readouterr().out.splitlines()
    assert header.split() == ["JOB", "STATUS", "LAST", "ACTION", "NOTE"]
    notes = {row.split()[0]: " ".join(row.split()[2:]) for row in rows}
    assert notes == {
        "job1": "cancel accepted; ADT stops the job within seconds (python -m cancel_job status job1)",
        "job2": "cancel accepted; stopping",
        "job3": "stopped",
        "job4": "",
    }


@pytest.mark.azurite
def test_the_timer_logs_each_queues_depth_for_the_workbook(azurite, monkeypatch, captured_logs) -> None:
    from cancel_job.contract import ALL_QUEUES, POISON_QUEUE, QUEUE_DEPTH_FIELD, QUEUE_FIELD, REQUESTS_QUEUE
    from tests.helpers import functions_by_name

    monkeypatch.setenv("STORAGE_CONNECTION", azurite.connection_string)
    for _ in range(2):
        queue_client(REQUESTS_QUEUE).send_message("job1")
    queue_client(POISON_QUEUE).send_message("job2")
    functions_by_name()["queue_depths"].get_user_function()(timer=None)
    logged = {
        getattr(r, QUEUE_FIELD): getattr(r, QUEUE_DEPTH_FIELD)
        for r in captured_logs.records
        if hasattr(r, QUEUE_DEPTH_FIELD)
    }
    assert logged == {name: {REQUESTS_QUEUE: 2, POISON_QUEUE: 1}.get(name, 0) for name in ALL_QUEUES}


def test_the_timer_says_so_when_storage_does_not_answer_and_does_not_raise(monkeypatch, captured_logs) -> None:
    from cancel_job.queues import report_queue_depths

    monkeypatch.delenv("STORAGE_CONNECTION", raising=False)
    assert set(report_queue_depths({}).values()) == {None}
    assert any("queue depth of" in r.getMessage() for r in captured_logs.records)
