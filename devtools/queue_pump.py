"""A development stand-in for the Functions host's queue trigger (no Core Tools here).

It does what the host does for ``cancel_import_job_queue`` under host.json's
``messageEncoding``: receives messages from the trigger queue, hands their text to the
function unchanged (``none``; with ``base64`` it decodes them, and one that does not decode
goes to poison without an invocation, as the host does), invokes the function through the
programming model with a real ``azure.functions.queue.QueueMessage``, writes the output
bindings in the same encoding, and deletes the message. When the invocation fails, the
message becomes visible again after host.json's ``visibilityTimeout``; once its dequeue
count reaches ``maxDequeueCount`` it is moved, unchanged, to ``<queue>-poison``.

    python -m devtools.queue_pump --until-idle 5
    python -m devtools.queue_pump --workers 6 --until-stopped --stats-json   # one fleet process
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import logging
import os
import resource
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import azure.functions as func
from azure.functions._abc import TraceContext  # the abstract base the worker implements
from azure.functions.queue import QueueMessage
from azure.storage.queue import QueueClient, TextBase64EncodePolicy

from cancel_job.contract import STORAGE_CONNECTION
from cancel_job.hostconfig import QueueHostConfig, load_queue_host_config
from cancel_job.trace import new_trace_parent

log = logging.getLogger("queue_pump")


def quiet_azure_logging() -> None:
    """azure-core logs every HTTP call at INFO: over 1,000 lines for 8 messages."""
    for name in ("azure", "urllib3"):
        logging.getLogger(name).setLevel(logging.WARNING)


# How long a received message stays invisible while the function runs (the host holds
# and renews a lease; one generous fixed value is enough here).
PROCESSING_VISIBILITY_SECONDS = 120


class OutBinding(func.Out[Any]):
    def __init__(self) -> None:
        self.value: Any = None

    def set(self, val: Any) -> None:
        self.value = val

    def get(self) -> Any:
        return self.value


class HostTraceContext(TraceContext):
    def __init__(self, trace_parent: str, trace_state: str = "") -> None:
        self._trace_parent, self._trace_state = trace_parent, trace_state

    @property
    def trace_parent(self) -> str:
        return self._trace_parent

    @property
    def trace_state(self) -> str:
        return self._trace_state

    @property
    def attributes(self) -> dict[str, str]:
        return {}


class HostContext(func.Context):
    """The worker's Context: an invocation id and a new trace for each delivery."""

    def __init__(self, function_name: str, trace_parent: str | None = None) -> None:
        self._function_name = function_name
        self._invocation_id = str(uuid.uuid4())
        self._trace = HostTraceContext(trace_parent or new_trace_parent().header)
        self._local = threading.local()

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return ""

    @property
    def trace_context(self) -> HostTraceContext:
        return self._trace

    @property
    def retry_context(self) -> Any:
        return None

    @property
    def thread_local_storage(self) -> Any:
        return self._local


_indexed: dict[int, dict[str, Any]] = {}


def indexed_functions(app: func.FunctionApp) -> dict[str, Any]:
    """The app's functions by name. ``get_functions()`` may run once per app object:
    a second call fails its duplicate-name check, so the result is kept."""
    if id(app) not in _indexed:
        _indexed[id(app)] = {fn.get_function_name(): fn for fn in app.get_functions()}
    return _indexed[id(app)]


@dataclass
class QueueFunction:
    """A queue-triggered function of the app, with its bindings read from its metadata."""

    name: str
    user_function: Callable[..., Any]
    trigger_arg: str
    trigger_queue: str
    outputs: dict[str, str]  # argument name -> queue name
    takes_context: bool

    @classmethod
    def from_app(cls, app: func.FunctionApp, name: str) -> QueueFunction:
        fn = indexed_functions(app)[name]
        bindings = json.loads(fn.get_function_json())["bindings"]
        trigger = next(b for b in bindings if b["type"] == "queueTrigger")
        outputs = {b["name"]: b["queueName"] for b in bindings if b["type"] == "queue" and b["direction"] == "OUT"}
        user_function = fn.get_user_function()
        return cls(
            name=name,
            user_function=user_function,
            trigger_arg=trigger["name"],
            trigger_queue=trigger["queueName"],
            outputs=outputs,
            takes_context="context" in user_function.__code__.co_varnames[: user_function.__code__.co_argcount],
        )


@dataclass
class PumpStats:
    completed: int = 0
    failed_invocations: int = 0
    poisoned: int = 0


class QueuePump:
    def __init__(
        self,
        connection_string: str,
        function: QueueFunction,
        host_config: QueueHostConfig | None = None,
        *,
        visibility_timeout_seconds: float | None = None,
        processing_visibility_seconds: float = PROCESSING_VISIBILITY_SECONDS,
        journal: TextIO | None = None,
    ) -> None:
        """``journal``: a line per received (``R id dequeue``), completed (``D id``) and
        failed (``F id``) delivery, flushed each time, so a run that kills this process can
        tell which deliveries the kill cut."""
        self.function = function
        self.processing_visibility = int(processing_visibility_seconds)
        self._journal = journal
        self.host_config = host_config or load_queue_host_config()
        # Tests shorten the wait between deliveries; everything else comes from host.json.
        self.retry_visibility = int(
            self.host_config.visibility_timeout_seconds
            if visibility_timeout_seconds is None
            else visibility_timeout_seconds
        )
        self._source = QueueClient.from_connection_string(connection_string, function.trigger_queue)
        self._poison = QueueClient.from_connection_string(connection_string, f"{function.trigger_queue}-poison")
        self._base64 = self.host_config.message_encoding.lower() == "base64"
        encode = TextBase64EncodePolicy() if self._base64 else None
        self._outputs = {
            arg: QueueClient.from_connection_string(connection_string, queue, message_encode_policy=encode)
            for arg, queue in function.outputs.items()
        }
        self.stats = PumpStats()

    def run_once(self) -> int:
        """Receive one batch and process it; returns how many messages were received."""
        batch = list(
            self._source.receive_messages(
                messages_per_page=self.host_config.batch_size,
                max_messages=self.host_config.batch_size,
                visibility_timeout=self.processing_visibility,
            )
        )
        for message in batch:
            self.note("R", message.id, message.dequeue_count)
            self._process(message)
        return len(batch)

    def note(self, *words: object) -> None:
        if self._journal is not None:
            self._journal.write(" ".join(str(w) for w in words) + "\n")
            self._journal.flush()

    def run_until_idle(self, idle_seconds: float = 2.0, max_seconds: float = 300.0, poll: float = 0.1) -> PumpStats:
        """Process until nothing has arrived for ``idle_seconds`` (messages waiting out a
        visibility timeout count as not yet arrived) or ``max_seconds`` have passed."""
        started = last_work = time.monotonic()
        while time.monotonic() - started < max_seconds:
            if self.run_once():
                last_work = time.monotonic()
            elif time.monotonic() - last_work >= idle_seconds:
                break
            else:
                time.sleep(poll)
        return self.stats

    def _process(self, message: Any) -> None:
        if not self._base64:
            body = message.content.encode("utf-8")  # the text as it was put on the queue
        else:
            try:
                body = base64.b64decode(message.content, validate=True)
            except (binascii.Error, ValueError):
                log.warning("message %s is not valid base64; the function is not invoked", message.id)
                self._failed(message)
                return
        outputs = {arg: OutBinding() for arg in self._outputs}
        kwargs: dict[str, Any] = {
            self.function.trigger_arg: QueueMessage(
                id=message.id,
                body=body,
                dequeue_count=message.dequeue_count,
                pop_receipt=message.pop_receipt,
                insertion_time=message.inserted_on,
                expiration_time=message.expires_on,
                time_next_visible=message.next_visible_on,
            ),
            **outputs,
        }
        if self.function.takes_context:
            kwargs["context"] = HostContext(self.function.name)
        try:
            self.function.user_function(**kwargs)
            for arg, out in outputs.items():
                if out.value is not None:
                    self._outputs[arg].send_message(out.value)
        except Exception as exc:  # the host treats any exception as a failed invocation
            log.info(
                "invocation failed for message %s (dequeue count %s): %s: %s",
                message.id,
                message.dequeue_count,
                type(exc).__name__,
                exc,
            )
            self._failed(message)
            return
        self._source.delete_message(message.id, message.pop_receipt)
        self.stats.completed += 1
        self.note("D", message.id)

    def _failed(self, message: Any) -> None:
        self.stats.failed_invocations += 1
        self.note("F", message.id)
        if message.dequeue_count >= self.host_config.max_dequeue_count:
            self._poison.send_message(message.content)  # unchanged, as the host copies it
            self._source.delete_message(message.id, message.pop_receipt)
            self.stats.poisoned += 1
        else:
            self._source.update_message(message.id, message.pop_receipt, visibility_timeout=self.retry_visibility)


def run_workers(pumps: list[QueuePump], stop: threading.Event, poll: float = 0.05, max_poll: float = 0.5) -> None:
    """One thread per pump, one message at a time each (as many invocations at once as the
    host runs), until ``stop``. An idle worker polls less often, up to ``max_poll``, as the
    host backs off towards maxPollingInterval."""

    def work(pump: QueuePump) -> None:
        delay = poll
        while not stop.is_set():
            try:
                got = pump.run_once()
            except Exception as exc:  # storage unreachable: a message in hand comes back by itself
                log.warning("queue storage failed (%s); polling again", type(exc).__name__)
                pump.note("E", type(exc).__name__)
                got = 0
            if got:
                delay = poll
            else:
                stop.wait(delay)
                delay = min(max_poll, delay * 2)

    threads = [threading.Thread(target=work, args=(pump,), daemon=True) for pump in pumps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def fleet_process_stats(pumps: list[QueuePump]) -> dict[str, int]:
    """What one fleet process saw: its deliveries, and its pacing store's transactions."""
    from cancel_job.runtime import get_service
    from cancel_job.settings import ConfigurationError

    try:
        pacer = get_service().pacer
    except ConfigurationError:  # every invocation reported it already
        pacer = None
    return {
        "completed": sum(p.stats.completed for p in pumps),
        "failedInvocations": sum(p.stats.failed_invocations for p in pumps),
        "poisoned": sum(p.stats.poisoned for p in pumps),
        "storeTransactions": getattr(pacer.store, "transactions", 0) if pacer else 0,
        "storeOutages": pacer.health.outages if pacer else 0,
        # The process's peak resident memory (Linux reports kilobytes): what one worker costs.
        "peakRssKb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }


def _serve_until_stopped(connection_string: str, function: QueueFunction, args: argparse.Namespace) -> list[QueuePump]:
    one_at_a_time = load_queue_host_config()._replace(batch_size=1)
    # The journal lives as long as the process; a kill leaves every line written so far.
    journal = open(args.journal, "a", encoding="utf-8") if args.journal else None
    pumps = [
        QueuePump(
            connection_string,
            function,
            one_at_a_time,
            visibility_timeout_seconds=args.visibility_timeout,
            processing_visibility_seconds=args.processing_visibility,
            journal=journal,
        )
        for _ in range(args.workers)
    ]
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    print(json.dumps({"ready": True}), flush=True)
    run_workers(pumps, stop)
    return pumps


def fleet_process_command(
    workers: int, visibility_timeout: float, *, processing_visibility: float | None = None, journal: Path | None = None
) -> list[str]:
    """The command of one fleet process: ``workers`` invocations at once until SIGTERM, then
    its stats as one JSON line (the ready line first)."""
    command = [
        sys.executable,
        "-m",
        "devtools.queue_pump",
        "--until-stopped",
        "--stats-json",
        f"--workers={workers}",
        f"--visibility-timeout={visibility_timeout:g}",
    ]
    if processing_visibility is not None:
        command.append(f"--processing-visibility={processing_visibility:g}")
    if journal is not None:
        command.append(f"--journal={journal}")
    return command


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the queue-triggered function against a storage queue.")
    parser.add_argument(
        "--connection-string",
        default=os.environ.get(STORAGE_CONNECTION),
        help=f"storage connection string (default: ${STORAGE_CONNECTION})",
    )
    parser.add_argument(
        "--until-idle",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="stop after this long without messages (default 5)",
    )
    parser.add_argument("--max-seconds", type=float, default=600.0, help="stop after this long in any case")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="invocations at once, one message each (with --until-stopped; the host's "
        "batchSize + newBatchThreshold is 6)",
    )
    parser.add_argument(
        "--until-stopped",
        action="store_true",
        help="run until SIGTERM or Ctrl-C, as one process of a fleet; prints a ready line first",
    )
    parser.add_argument(
        "--visibility-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="how long a failed delivery stays invisible (default: host.json's visibilityTimeout)",
    )
    parser.add_argument("--stats-json", action="store_true", help="print the stats as one JSON line")
    parser.add_argument(
        "--processing-visibility",
        type=float,
        default=PROCESSING_VISIBILITY_SECONDS,
        metavar="SECONDS",
        help="how long a received message stays hidden while it is handled "
        f"(default {PROCESSING_VISIBILITY_SECONDS}; the host renews a lease)",
    )
    parser.add_argument("--journal", metavar="FILE", help="append a line per delivery received, done or failed")
    args = parser.parse_args(argv)
    if not args.connection_string:
        parser.error(f"no connection string: pass --connection-string or set {STORAGE_CONNECTION}")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    quiet_azure_logging()
    from function_app import app

    function = QueueFunction.from_app(app, "cancel_import_job_queue")
    if args.until_stopped:
        pumps = _serve_until_stopped(args.connection_string, function, args)
    else:
        pumps = [
            QueuePump(
                args.connection_string,
                function,
                visibility_timeout_seconds=args.visibility_timeout,
                processing_visibility_seconds=args.processing_visibility,
            )
        ]
        pumps[0].run_until_idle(args.until_idle, args.max_seconds)
    stats = fleet_process_stats(pumps)
    if args.stats_json:
        print(json.dumps(stats), flush=True)
    else:
        print(
            f"completed={stats['completed']} failed_invocations={stats['failedInvocations']} "
            f"poisoned={stats['poisoned']}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
