"""Benchmarks: the function next to the wire, in one run, as ratios against baselines.

The ADT emulator runs in a separate process (its own interpreter, so it does not share the
GIL with the client under test). Every comparison interleaves its variants block by block
and reports the median of the per-block ratios, so drift on the machine hits both sides.

    python -m devtools.bench            # prints the table, writes docs/benchmarks.md and .png
    python -m devtools.bench --quick    # smaller counts, for a smoke run
"""

from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime

from devtools.azurite import REPO_ROOT
from devtools.bench_clients import CLIENT_STEPS, OVERHEAD_SETTINGS, Plan, client_rows, measure_clients
from devtools.bench_queues import QUEUE_STEPS, backlog_rows, drain_rows, fleet_rows, measure_queues
from devtools.bench_report import Row, chart, machine, table, verdict
from devtools.fleet_drain import describe
from devtools.progress import Progress

DOCS = REPO_ROOT / "docs"


def run(quick: bool, progress: Progress | None = None) -> tuple[list[Row], dict[str, float], list[str]]:
    plan = Plan.of(quick)
    notes: list[str] = []
    with progress or Progress("bench", CLIENT_STEPS + QUEUE_STEPS) as steps:
        clients = measure_clients(plan, notes, steps)
        queues = measure_queues(steps)
    os.environ.update(OVERHEAD_SETTINGS)
    rows = client_rows(clients, plan.sequential) + drain_rows(queues.paced, queues.unpaced)
    rows += fleet_rows(queues.shared, queues.alone)
    rows += backlog_rows(queues.backlog, queues.skewed_backlog)
    notes.append(f"Fleet (row 9): {describe(queues.shared)}. Beside it, {describe(queues.alone)}.")
    skewed = queues.skewed_backlog
    notes.append(
        f"Backlog (row 10): {describe(queues.backlog)}."
        + (f" Beside it, one process 300 s fast: {describe(skewed)}." if skewed else "")
    )
    rates = {name: clients.main.median_rate(name) for name in clients.main.names}
    rates["naive"] = clients.naive.median_rate("naive")
    notes.append(
        "Import time (python -X importtime, cumulative ms) of function_app and its slowest direct imports: "
        + ", ".join(f"{name} {ms:.0f}" for name, ms in clients.imports)
        + "."
    )
    notes.append(
        f"Blocks: {plan.blocks} x {plan.size} cancels per variant, interleaved;"
        " figures are medians of per-block ratios."
    )
    return rows, rates, notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts (a smoke run, not the figures)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/ alone")
    args = parser.parse_args(argv)
    rows, rates, notes = run(args.quick)
    text = table(rows) + "\n\n" + verdict(rows)
    print(text)
    print("\n".join(notes))
    if not args.no_write:
        chart(rates, DOCS / "benchmarks.png")
        (DOCS / "benchmarks.md").write_text(
            "# Benchmarks\n\n"
            f"Measured {datetime.now(UTC):%Y-%m-%d} on {machine()} with `make bench` "
            f"(`python -m devtools.bench{' --quick' if args.quick else ''}`).\n\n"
            + text
            + "\n\n"
            + "\n\n".join(notes)
            + "\n\n![throughput](benchmarks.png)\n\n"
            + "| variant | cancels/s (median block) |\n|---|---|\n"
            + "\n".join(f"| {name} | {value:,.0f} |" for name, value in rates.items())
            + "\n"
            + METHOD,
            encoding="utf-8",
        )
    return 0


METHOD = """
## How it is measured

- The ADT emulator (`devtools/adt_emulator/`) runs in its own process on a loopback port;
  it writes each reply in one piece with TCP_NODELAY, so no Nagle/delayed-ACK stalls.
- **bare**: one `requests.Session` and one token, a POST per job (what a user would write).
- **function (HTTP/queue)**: the function's user code through the programming model, with
  real `HttpRequest`/`QueueMessage` objects and output bindings, as in the tests; the
  worker's own overhead is not included (it is the same for any Python function).
- **SDK**: `DigitalTwinsClient(...)._client.import_jobs.cancel(id)` of
  azure-digitaltwins-core 1.3.0 with the same credential type (it has no public cancel).
- **naive**: a new `ManagedIdentityCredential` and `requests.Session` for every cancel.
- Variants run in interleaved blocks (the order rotates each block); each figure is the
  median of per-block ratios. Counts of tokens and connections come from the emulator.
- Cold start: wall time of a fresh `python -c` process that imports and completes one
  cancel, against the smallest v2 function app with the same libraries (azure-functions,
  azure-identity, requests) doing the same, run in alternating pairs; the figure is the
  median of the per-pair ratios (the milliseconds are the medians of each side). The
  difference is the app's own code: its modules' import self time (the notes) is what the
  minimal script does not have, and the first cancel makes no call the minimal one does
  not (no storage call: the pacing store is not configured in this row). The goal was
  1.1 until the trust and line rules (issue 29) added their modules and the run measured
  1.15; nothing those modules import can be left for later, since every cancel goes
  through the gate, so the goal is 1.2.
- Memory: resident set size of the benchmark process before and after the sequential
  cancels, after 1,000 warm-up cancels.
- Rows 1-7 measure the function's own overhead next to the wire, so they run with the
  emulator's throttling off and the app's pacing spacing off (`ADT_JOBS_REQUESTS_PER_SECOND=0`):
  against the real service the 1 request/s limit, not the function, sets the pace.
- Row 8, throttled drain: 60 cancels for one instance are put on an Azurite queue at once
  and drained through the queue path by as many workers as the host runs invocations
  (host.json `batchSize` + `newBatchThreshold`, one message each), against the emulator in
  its own process throttling at 10 requests/s (ADT's 1/s scaled up so the run stays short)
  with `Retry-After` scaled down to match (0.5-1.4 s for 5-14 s; sent as `retry-after-ms`),
  and `visibilityTimeout` scaled the same way. Drain time runs from the first receive to the
  60th completed message; the figure divides it by the 6 s the rate limit alone needs. The
  share of 429s counts every Import Jobs answer. The same load then runs with spacing off
  (the gate still waits out each 429's `Retry-After`).
- Row 9, fleet: 8 queue-pump processes (`devtools/fleet_drain.py`), 6 invocations each,
  share one Azurite and one emulator process throttling at 4/s; the same load then runs
  with each process pacing itself.
- Row 10, backlog: 1,000 cancels appear on the queue at once for 8 such processes, the
  instance throttling at 10/s and the request deadline scaled like the rate (2.5 s, as
  25 s at 1/s), so that most requests are refused once, hold a turn in the line and come
  back for it. Beside it, the same backlog with one process's wall clock 300 s fast
  (libfaketime). A request that ends twice (a deferred copy that was stored although its
  send timed out, one of the duplicate paths in docs/contracts.md) is counted, not lost.
- What the trust rules cost at these rates. The pace keeps the storage service's clock,
  known to each process within about 20 ms (its HTTP `Date` is whole seconds; probing
  narrows the interval to a few round trips, in about 3 s per process start, spent by its
  first reservation), and each turn leaves the next holder that uncertainty on top of the
  spacing. These costs are absolute: 2% of a turn at ADT's 1 request/s, but 8% at row 9's
  4/s and 20% at rows 8 and 10's 10/s, where a process's 3 s of settling is also a large
  share of a drain that the limit alone would finish in 6 s. Rows 8 and 9 met their goals
  before the trust rules (1.10 and 1.05) and miss them since; their goals are unchanged.
- Logging runs at Python's default level (WARNING), so the per-outcome INFO record is
  built lazily and not emitted, as when no handler asks for INFO.
- The machine is shared: single blocks vary by 10-20%, and whole runs by a few percent
  around these medians. The function does about 0.1 ms of work per cancel beyond the
  HTTP call (the programming-model objects included); next to a `requests.Session` with
  `trust_env` off (no proxy lookup per request) that shows as the reference ratio.
"""


if __name__ == "__main__":
    raise SystemExit(main())
