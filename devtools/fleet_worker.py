"""One process of a scaled-out app, driven line by line: for tests of what a fleet does.

Flex Consumption runs the queue function in many processes on many machines; a test of
fleet behaviour needs real processes, sharing Azurite and the ADT emulator, whose timing
it controls. This process imports the app with the settings in its environment, then reads
one JSON command per line on stdin and answers each with one JSON line on stdout:

    {"op": "invoke", "body": "...", "dequeueCount": 1}
        the queue function, through the programming model, with the real follow-up and
        deferral sends -> {"result": ..., "failure": ..., "raised": null or "Type: text"}
    {"op": "turn", "deadline": 5}
        a turn at the gate of the configured instance -> {"granted": true, "at": <epoch s>}
        or {"granted": false, "wait": <s>}
    {"op": "throttled", "seconds": 3}
        tell the gate ADT answered 429 -> {"ok": true}
    {"op": "stats"}
        -> {"storeTransactions": n, "storeOutages": n}

    python -m devtools.fleet_worker
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from azure.functions.queue import QueueMessage

from devtools.queue_pump import HostContext, OutBinding, indexed_functions, quiet_azure_logging


def _invoke(command: dict[str, Any]) -> dict[str, Any]:
    import function_app

    function = indexed_functions(function_app.app)["cancel_import_job_queue"].get_user_function()
    message = QueueMessage(
        id="fleet",
        body=command["body"].encode("utf-8"),
        dequeue_count=command.get("dequeueCount", 1),
        pop_receipt="fleet",
    )
    outputs = {"results": OutBinding(), "failures": OutBinding()}
    raised = None
    try:
        function(msg=message, context=HostContext("cancel_import_job_queue"), **outputs)
    except Exception as exc:  # the host's failed invocation: reported, not fatal
        raised = f"{type(exc).__name__}: {exc}"
    return {"result": outputs["results"].get(), "failure": outputs["failures"].get(), "raised": raised}


def _gate() -> Any:
    from cancel_job.runtime import get_service

    service = get_service()
    return service.pacer.gate(service.settings.allowlist.resolve(None))


def _turn(command: dict[str, Any]) -> dict[str, Any]:
    now = time.monotonic()
    wait = _gate().wait_turn(now, now + float(command["deadline"]))
    return {"granted": True, "at": time.time()} if wait is None else {"granted": False, "wait": wait}


def _stats() -> dict[str, Any]:
    from cancel_job.runtime import get_service

    pacer = get_service().pacer
    store = pacer.store
    return {"storeTransactions": getattr(store, "transactions", 0), "storeOutages": pacer.health.outages}


def answer(command: dict[str, Any]) -> dict[str, Any]:
    op = command.get("op")
    if op == "invoke":
        return _invoke(command)
    if op == "turn":
        return _turn(command)
    if op == "throttled":
        _gate().throttled(float(command["seconds"]))
        return {"ok": True}
    if op == "stats":
        return _stats()
    return {"error": f"unknown op {op!r}"}


def main() -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
    quiet_azure_logging()
    import function_app  # noqa: F401 - index the functions before saying ready

    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        if line.strip():
            print(json.dumps(answer(json.loads(line))), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
