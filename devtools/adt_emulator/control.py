"""The emulator's control routes under /_emulator/: stats, requests, faults, config, seed,
reset and a job's status, for tests and tools in other processes."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, cast

from .replies import Replies
from .state import EmulatorState, Fault, Job

ADMIN_PREFIX = "/_emulator/"


# (method, route) -> handler. The one list of control routes: docs/local-development.md
# documents each, and tests/test_emulator.py calls every documented one.
ROUTES: dict[tuple[str, str], str] = {
    ("GET", "stats"): "_stats",
    ("GET", "requests"): "_requests",
    ("GET", "config"): "_get_config",
    ("POST", "config"): "_config",
    ("POST", "faults"): "_faults",
    ("POST", "seed"): "_seed",
    ("POST", "reset"): "_reset",
    ("POST", "jobs/{id}/status"): "_job_status",
}


def _route_pattern(route: str) -> re.Pattern[str]:
    return re.compile(re.escape(route).replace(r"\{id\}", "([^/]+)"))


_PATTERNS = {key: _route_pattern(key[1]) for key in ROUTES}


class ControlRoutes(Replies):
    def _admin(self, method: str, path: str, raw: bytes) -> None:
        doc = json.loads(raw) if raw else {}
        for (route_method, route), handler in ROUTES.items():
            match = _PATTERNS[route_method, route].fullmatch(path)
            if route_method == method and match:
                return cast(Callable[..., None], getattr(self, handler))(doc, *match.groups())
        self._error(404, "NotFound", "Unknown emulator control path.")

    @property
    def _state(self) -> EmulatorState:
        return self.server.state

    def _stats(self, _doc: Any) -> None:
        state = self._state
        with state.lock:
            self._reply(
                200,
                {
                    "tokenRequests": state.token_requests,
                    "connections": state.connections,
                    "adtConnections": state.connections_by_kind["adt"],
                    "identityConnections": state.connections_by_kind["identity"],
                    "requests": len(state.requests),
                    "cancelsApplied": state.cancels_applied,
                    "answers": {str(status): n for status, n in sorted(state.adt_answers.items())},
                    "jobs": {k: v.to_json()["status"] for k, v in state.jobs.items()},
                },
            )

    def _requests(self, _doc: Any) -> None:
        with self._state.lock:
            self._reply(200, [asdict(r) for r in self._state.requests])

    def _faults(self, doc: Any) -> None:
        with self._state.lock:
            self._state.faults.extend(Fault(**f) for f in (doc if isinstance(doc, list) else [doc]))
        self._reply(204)

    def _get_config(self, _doc: Any) -> None:
        with self._state.lock:
            self._reply(200, asdict(self._state.config))

    def _config(self, doc: Any) -> None:
        with self._state.lock:
            for key, value in doc.items():
                setattr(self._state.config, key, value)
        self._reply(204)

    def _seed(self, doc: Any) -> None:
        now = time.time()
        with self._state.lock:
            for i in range(int(doc["count"])):
                job_id = f"{doc.get('prefix', 'job')}{i}"
                self._state.jobs[job_id] = Job(
                    job_id, "https://example/in", "https://example/out", doc.get("status", "running"), now, now
                )
        self._reply(204)

    def _reset(self, _doc: Any) -> None:
        self._state.reset()
        self._reply(204)

    def _job_status(self, doc: Any, job_id: str) -> None:
        if not self._state.set_status(job_id, doc["status"]):
            return self._not_found(job_id)
        self._reply(204)
