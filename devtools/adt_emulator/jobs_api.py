"""The Import Jobs API (2023-10-31): cancel, get, create, delete and list, with faults."""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Callable
from typing import Any

from cancel_job import assumptions
from cancel_job.contract import ADT_API_VERSION, ERROR_CODE_HEADER

from .replies import Replies
from .state import SPEC_ANSWERS, Job

_JOB_PATH = re.compile(r"/jobs/imports/([^/]+)(/cancel)?")


class JobsApi(Replies):
    @staticmethod
    def _operation(method: str, path: str) -> tuple[str | None, str | None]:
        if path == "/jobs/imports":
            return ("list" if method == "GET" else None), None
        match = _JOB_PATH.fullmatch(path)
        if match is None:
            return None, None
        job_id, cancel = match.groups()
        if cancel:
            return ("cancel" if method == "POST" else None), job_id
        return {"GET": "get", "PUT": "put", "DELETE": "delete"}.get(method), job_id

    def _with_fault(self, op: str, job_id: str | None, action: Callable[[], None]) -> None:
        fault = self.server.state.take_fault(op, job_id)
        if fault is None:
            return action()
        if fault.after_effect:
            _run_discarding(self, action)
        if fault.delay:
            time.sleep(fault.delay)
        if fault.drop:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if fault.status is None:
            return action()
        body = fault.body
        if body is None and fault.status == 429 and ERROR_CODE_HEADER not in fault.headers:
            retry_after = fault.headers.get("Retry-After")
            body = {"error": {"statusCode": 429, "message": "Rate limit is exceeded."}}
            if retry_after is not None:
                body["error"]["message"] += f" Try again in {retry_after} seconds."
            return self._reply(429, body, fault.headers)
        if body is None and fault.status >= 400:
            code = fault.headers.get("x-ms-error-code", f"Injected{fault.status}")
            body = {"error": {"code": code, "message": f"Injected fault {fault.status}."}}
            return self._reply(fault.status, body, {"x-ms-error-code": code, **fault.headers})
        self._reply(fault.status, body, fault.headers)

    def _find(self, job_id: str) -> Job | None:
        state = self.server.state
        job = state.jobs.get(job_id)
        if job is not None:
            state.advance(job, time.time())
        return job

    def _cancel(self, job_id: str) -> None:
        state = self.server.state
        with state.lock:
            job = self._find(job_id)
            if job is None:
                return self._not_found(job_id)
            if state.config.answers == SPEC_ANSWERS:
                if job.status not in assumptions.CANCELLABLE_STATUSES:
                    return self._error(
                        assumptions.SPEC_CANCEL_REFUSED_STATUS,
                        assumptions.SPEC_CANCEL_REFUSED_CODE,
                        f"The import job is {job.status} and cannot be cancelled.",
                    )
                job.status, job.last_action = "cancelling", time.time()
                state.cancels_applied += 1
            elif job.status in assumptions.CANCELLABLE_STATUSES and job.cancel_requested is None:
                # The real service answers with the job as it was; the cancel acts later.
                job.cancel_requested = time.time()
                state.cancels_applied += 1
                state.advance(job, job.cancel_requested)
            body = job.to_json()
        self._reply(200, body)

    def _get(self, job_id: str) -> None:
        with self.server.state.lock:
            job = self._find(job_id)
            body = None if job is None else job.to_json()
        if body is None:
            return self._not_found(job_id)
        self._reply(200, body)

    def _put(self, job_id: str, raw: bytes) -> None:
        state = self.server.state
        try:
            document = json.loads(raw)
        except ValueError:
            document = None
        if not isinstance(document, dict) or not all(
            isinstance(document.get(k), str) and document.get(k) for k in ("inputBlobUri", "outputBlobUri")
        ):
            return self._error(400, "ValidationFailed", "inputBlobUri and outputBlobUri are required.")
        with state.lock:
            if job_id in state.jobs:
                return self._error(400, "ValidationFailed", f"An import job with id {job_id!r} already exists.")
            if len(state.jobs) >= state.config.max_jobs:
                return self._error(400, "JobLimitReached", "The maximum number of import jobs has been reached.")
            now = time.time()
            job = Job(job_id, document["inputBlobUri"], document["outputBlobUri"], "notstarted", now, now)
            state.jobs[job_id] = job
            state.advance(job, now)
            body = job.to_json()
        self._reply(201, body)

    def _delete(self, job_id: str) -> None:
        state = self.server.state
        with state.lock:
            job = self._find(job_id)
            if job is None:
                return self._not_found(job_id)
            if job.status not in assumptions.TERMINAL_STATUSES:
                return self._error(400, "ValidationFailed", f"The import job is {job.status}; cancel it first.")
            del state.jobs[job_id]
        self._reply(204)

    def _list(self, query: dict[str, list[str]]) -> None:
        state = self.server.state
        try:
            start = int((query.get("continuationToken") or ["0"])[0])
            size = int(self.headers.get("max-items-per-page") or state.config.page_size)
        except ValueError:
            return self._error(400, "ValidationFailed", "Invalid continuationToken or max-items-per-page.")
        size = max(1, min(size, state.config.page_size))
        with state.lock:
            ids = sorted(state.jobs)
            page = [self._find(i).to_json() for i in ids[start : start + size]]
        body: dict[str, Any] = {"value": page}
        if start + size < len(ids):
            host = self.headers.get("Host", f"127.0.0.1:{self.server.server_address[1]}")
            query_text = f"api-version={ADT_API_VERSION}&continuationToken={start + size}"
            body["nextLink"] = f"http://{host}/jobs/imports?{query_text}"
        self._reply(200, body)


class _Discard:
    def write(self, data: bytes) -> int:
        return len(data)


def _run_discarding(handler: Replies, action: Callable[[], None]) -> None:
    real_wfile = handler.wfile
    handler.wfile = _Discard()
    try:
        action()
    finally:
        handler.wfile = real_wfile
