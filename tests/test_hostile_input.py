"""Fuzzing both entry points: every input ends in a result, a failure record or a 4xx,
and nothing but well-formed job paths reaches ADT."""

from __future__ import annotations

import base64
import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cancel_job.contract import MAX_MESSAGE_BYTES
from tests.helpers import VALID_TRACEPARENT, invoke_http, invoke_queue

WELL_FORMED_JOB_PATH = re.compile(r"/jobs/imports/[A-Za-z0-9._~-]{1,128}(/cancel)?")
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
QUEUE_MESSAGE_LIMIT = 64 * 1024

ids = st.one_of(
    st.text(max_size=200),
    st.text(alphabet="./%?#\\\r\n\x00 ~_-aZ9", max_size=20),
    st.sampled_from(["..", ".", "a/b", "%2F", "..%2F..", "a?b=c", "a#b", "a\r\nb", "a\x00b", "jöb", "x" * 129]),
    st.from_regex(r"[A-Za-z0-9._~-]{1,128}", fullmatch=True),
)
trace_values = st.one_of(
    st.none(),
    st.text(max_size=80),
    st.just(VALID_TRACEPARENT),
    st.integers(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


def assert_only_well_formed_paths_reached_adt(emulator) -> None:
    for request in emulator.requests:
        assert request.path == "/msi/token" or WELL_FORMED_JOB_PATH.fullmatch(request.path), request.path


def assert_record_fits_a_queue_message(text: str) -> None:
    assert len(base64.b64encode(text.encode("utf-8"))) <= QUEUE_MESSAGE_LIMIT


@FUZZ
@given(job_id=ids, traceparent=trace_values, tracestate=trace_values, instance=st.none() | st.text(max_size=60))
def test_http_fuzz(app_env, emulator, job_id, traceparent, tracestate, instance) -> None:
    headers = {k: v for k, v in (("traceparent", traceparent), ("tracestate", tracestate)) if isinstance(v, str)}
    params = {} if instance is None else {"instance": instance}
    invoked = invoke_http(job_id, headers=headers, params=params)
    status = invoked.returned.status_code
    assert status == 200 or 400 <= status < 500, status
    if status != 200:
        body = json.loads(invoked.returned.get_body())
        assert set(body) == {"error"} and body["error"]["code"] == invoked.returned.headers["x-ms-error-code"]
        assert_record_fits_a_queue_message(invoked.failure)
    assert_only_well_formed_paths_reached_adt(emulator)


message_bodies = st.one_of(
    st.binary(max_size=2000),
    st.text(max_size=2000).map(str.encode),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries(
        {"jobId": st.one_of(ids, json_values)},
        optional={
            "traceparent": trace_values,
            "tracestate": trace_values,
            "instance": json_values,
            "extra": json_values,
        },
    ).map(lambda v: json.dumps(v).encode()),
    st.integers(1, 30_000).map(lambda depth: b'{"jobId": ' + b"[" * depth + b"]" * depth + b"}"),
    st.integers(MAX_MESSAGE_BYTES - 10, MAX_MESSAGE_BYTES + 10).map(lambda n: b"j" * n),
    st.integers(1, 8000).map(lambda n: json.dumps({"jobId": "\x01" * n}).encode()),
)


@FUZZ
@given(body=message_bodies, dequeue_count=st.integers(1, 5))
def test_queue_fuzz(app_env, emulator, body: bytes, dequeue_count: int) -> None:
    invoked = invoke_queue(body, dequeue_count=dequeue_count)
    assert (invoked.result is None) != (invoked.failure is None)
    if invoked.failure is not None:
        record = invoked.failure_json
        assert {"jobId", "error", "httpStatus", "dequeueCount", "request", "failedDateTime"} <= set(record)
        assert record["dequeueCount"] == dequeue_count
        assert_record_fits_a_queue_message(invoked.failure)
    assert_only_well_formed_paths_reached_adt(emulator)


@pytest.mark.parametrize("job_id", ["..", ".", "a/b", "%2F", "a?b", "a#b", "a\r\nb", "a\x00b", "jöb", "x" * 129])
def test_named_hostile_ids_never_reach_adt(app_env, emulator, job_id: str) -> None:
    assert invoke_http(job_id).returned.status_code == 400
    assert invoke_queue(json.dumps({"jobId": job_id})).failure_json["error"]["code"] == "InvalidJobId"
    assert [r for r in emulator.requests if r.path.startswith("/jobs")] == []
