"""The benchmark's client rows (1-7): the function next to the wire, against baselines,
on the emulator alone (no throttling, the app's spacing off)."""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import requests

from devtools.azurite import REPO_ROOT
from devtools.bench_report import Row
from devtools.easy_auth import principal_headers
from devtools.emulator_process import EmulatorProcess
from devtools.entra import LOCAL_CALLER_APP_ID, LOCAL_CALLER_OBJECT_ID, LOCAL_TENANT
from devtools.progress import Progress, Step

SCOPE = "https://digitaltwins.azure.net/.default"
# The overhead rows measure the function's own cost next to the wire, so the app's pacing
# (1 request/s per instance by default) is off for them; the throttled-drain rows measure
# the pacing itself against an emulator that throttles.
OVERHEAD_SETTINGS = {"ADT_JOBS_REQUESTS_PER_SECOND": "0"}


# -- the variants: each cancels one job per call ------------------------------------------


Cancel = Callable[[str], None]


def bare_client(emulator: EmulatorProcess, token: str, pool: int = 1, trust_env: bool = True) -> Cancel:
    """What a user would write: one requests.Session, one token, a POST per job."""
    session = requests.Session()
    session.trust_env = trust_env
    session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=pool))
    headers = {
        "Authorization": f"Bearer {token}",
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    }

    def cancel(job_id: str) -> None:
        answer = session.post(
            f"{emulator.endpoint}/jobs/imports/{job_id}/cancel?api-version=2023-10-31", headers=headers, timeout=10
        )
        answer.json()
        assert answer.status_code == 200, answer.status_code

    return cancel


def function_http() -> Cancel:
    import azure.functions as func

    import function_app
    from devtools.queue_pump import HostContext, OutBinding, indexed_functions

    fn = indexed_functions(function_app.app)["cancel_import_job_http"].get_user_function()
    # What App Service authentication passes for a validated caller: the function reads it.
    caller = principal_headers({"oid": LOCAL_CALLER_OBJECT_ID, "appid": LOCAL_CALLER_APP_ID, "tid": LOCAL_TENANT})

    def cancel(job_id: str) -> None:
        request = func.HttpRequest(
            "POST",
            f"https://app.example/api/jobs/imports/{job_id}/cancel",
            headers=caller,
            params={},
            route_params={"id": job_id},
            body=b"",
        )
        response = fn(
            req=request, context=HostContext("cancel_import_job_http"), results=OutBinding(), failures=OutBinding()
        )
        assert response.status_code == 200, response.get_body()

    return cancel


def function_queue() -> Cancel:
    from azure.functions.queue import QueueMessage

    import function_app
    from devtools.queue_pump import HostContext, OutBinding, indexed_functions

    fn = indexed_functions(function_app.app)["cancel_import_job_queue"].get_user_function()

    def cancel(job_id: str) -> None:
        results = OutBinding()
        fn(
            msg=QueueMessage(id="m", body=job_id.encode(), dequeue_count=1, pop_receipt="r"),
            context=HostContext("cancel_import_job_queue"),
            results=results,
            failures=OutBinding(),
        )
        assert results.get() is not None

    return cancel


def sdk_client(emulator: EmulatorProcess) -> Cancel:
    """azure-digitaltwins-core 1.3.0 has no public cancel; its generated client does."""
    from azure.digitaltwins.core import DigitalTwinsClient
    from azure.identity import ManagedIdentityCredential

    client = DigitalTwinsClient(emulator.endpoint, ManagedIdentityCredential())
    operations = client._client.import_jobs

    def cancel(job_id: str) -> None:
        operations.cancel(job_id, enforce_https=False)  # the emulator is plain http on loopback

    return cancel


def naive_client(emulator: EmulatorProcess) -> Cancel:
    """A new credential and session per invocation: what caching saves."""
    from azure.identity import ManagedIdentityCredential

    def cancel(job_id: str) -> None:
        token = ManagedIdentityCredential().get_token(SCOPE).token
        with requests.Session() as session:
            answer = session.post(
                f"{emulator.endpoint}/jobs/imports/{job_id}/cancel?api-version=2023-10-31",
                headers={"Authorization": f"Bearer {token}"},
                timeout=10,
            )
        assert answer.status_code == 200

    return cancel


# -- measuring ----------------------------------------------------------------------------


def rate(cancel: Cancel, ids: list[str]) -> float:
    started = time.perf_counter()
    for job_id in ids:
        cancel(job_id)
    return len(ids) / (time.perf_counter() - started)


def threaded_rate(cancel: Cancel, ids: list[str], threads: int) -> float:
    chunks = [ids[i::threads] for i in range(threads)]
    workers = [threading.Thread(target=lambda c=chunk: [cancel(j) for j in c]) for chunk in chunks]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return len(ids) / (time.perf_counter() - started)


@dataclass
class Comparison:
    """Interleaved blocks of several variants; ratios are per block, against the first."""

    names: list[str]
    rates: dict[str, list[float]] = field(default_factory=dict)

    def run(
        self,
        emulator: EmulatorProcess,
        variants: dict[str, Cancel],
        blocks: int,
        size: int,
        measure: Callable[[Cancel, list[str]], float] = rate,
        step: Step | None = None,
    ) -> Comparison:
        for block in range(blocks):
            order = self.names[block % len(self.names) :] + self.names[: block % len(self.names)]
            for name in order:
                slug = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-")  # job ids follow the job-id rule
                ids = emulator.seed(f"{slug}-{block}-", size)
                self.rates.setdefault(name, []).append(measure(variants[name], ids))
            if step is not None:
                step.advance()
        return self

    def median_rate(self, name: str) -> float:
        return statistics.median(self.rates[name])

    def median_ratio(self, name: str, baseline: str) -> float:
        return statistics.median(a / b for a, b in zip(self.rates[name], self.rates[baseline], strict=True))


LEAN_CLIENT = """
import http.client, sys, time
connection = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
headers = {"Authorization": "Bearer " + sys.argv[2]}
ids = sys.argv[3].split(",")
started = time.perf_counter()
for job_id in ids:
    connection.request("POST", "/jobs/imports/" + job_id + "/cancel?api-version=2023-10-31", headers=headers)
    connection.getresponse().read()
print(len(ids) / (time.perf_counter() - started))
"""


def emulator_ceiling(emulator: EmulatorProcess, token: str, per_process: int, processes: int = 4) -> float:
    """The emulator's own limit: lean clients in separate processes (no GIL in common)."""
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                LEAN_CLIENT,
                str(emulator.port),
                token,
                ",".join(emulator.seed(f"ceiling-{n}-", per_process)),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(processes)
    ]
    return sum(float(worker.communicate()[0]) for worker in workers)


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


COLD_FUNCTION = """
import azure.functions as func
import function_app
from devtools.queue_pump import HostContext, OutBinding, indexed_functions
fn = indexed_functions(function_app.app)["cancel_import_job_http"].get_user_function()
r = fn(req=func.HttpRequest("POST", "https://a/api/jobs/imports/{job}/cancel",
       headers={{"X-MS-CLIENT-PRINCIPAL-ID": "6a7b8c9d-2222-4000-8000-00000000ca11"}}, params={{}},
       route_params={{"id": "{job}"}}, body=b""), context=HostContext("c"), results=OutBinding(), failures=OutBinding())
assert r.status_code == 200, r.get_body()
"""

# The same thing as the smallest possible v2 function app with the same libraries
# (azure-functions, azure-identity, requests), called the same way.
COLD_MINIMAL = """
import os
import azure.functions as func
import requests
from azure.identity import ManagedIdentityCredential
from devtools.queue_pump import HostContext, OutBinding, indexed_functions

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

@app.route(route="jobs/imports/{{id}}/cancel", methods=["POST"])
@app.queue_output(arg_name="results", queue_name="import-cancel-results", connection="STORAGE_CONNECTION")
def cancel(req: func.HttpRequest, results: func.Out[str]) -> func.HttpResponse:
    token = ManagedIdentityCredential().get_token("https://digitaltwins.azure.net/.default").token
    r = requests.post(os.environ["ADT_ENDPOINT"] + "/jobs/imports/" + req.route_params["id"]
                      + "/cancel?api-version=2023-10-31", headers={{"Authorization": "Bearer " + token}}, timeout=10)
    results.set(r.text)
    return func.HttpResponse(r.text, status_code=r.status_code)

fn = indexed_functions(app)["cancel"].get_user_function()
r = fn(req=func.HttpRequest("POST", "https://a/api/jobs/imports/{job}/cancel",
       headers={{"X-MS-CLIENT-PRINCIPAL-ID": "6a7b8c9d-2222-4000-8000-00000000ca11"}}, params={{}},
       route_params={{"id": "{job}"}}, body=b""), results=OutBinding())
assert r.status_code == 200, r.get_body()
"""


def cold_start(emulator: EmulatorProcess, env: dict[str, str], runs: int) -> tuple[float, float, float]:
    """Wall time of fresh processes that import and complete their first cancel, run in
    alternating pairs: (median ratio of the pairs, median function time, median minimal)."""
    times: dict[str, list[float]] = {"function": [], "minimal": []}
    for run in range(runs):
        pair = (("function", COLD_FUNCTION), ("minimal", COLD_MINIMAL))
        for name, script in pair if run % 2 == 0 else pair[::-1]:
            [job] = emulator.seed(f"cold-{name}-{run}-", 1)
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", script.format(job=job)], cwd=REPO_ROOT, env=env, check=True)
            times[name].append(time.perf_counter() - started)
    ratio = statistics.median(f / m for f, m in zip(times["function"], times["minimal"], strict=True))
    return ratio, statistics.median(times["function"]), statistics.median(times["minimal"])


# The app's own modules: what a cold start costs beyond the minimal script's libraries.
APP_MODULES = ("function_app", "cancel_job")


def import_times(env: dict[str, str]) -> list[tuple[str, float]]:
    """Cumulative ms of ``import function_app`` and of its slowest direct imports, then the
    self time of the app's own modules together (python -X importtime; a nested import is
    indented two spaces per level)."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import function_app"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    total, own, children = 0.0, 0.0, []
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        self_time, cumulative, raw_name = line[len("import time:") :].split("|")
        name = raw_name.strip()
        depth = (len(raw_name) - len(raw_name.lstrip(" ")) - 1) // 2
        milliseconds = int(cumulative) / 1000
        if name.split(".")[0] in APP_MODULES:
            own += int(self_time) / 1000
        if depth == 0 and name == "function_app":
            total = milliseconds
        elif depth == 1:
            children.append((name, milliseconds))
    top = sorted(children, key=lambda r: -r[1])[:5]
    return [("function_app", total), *top, ("the app's own modules, self time", own)]


@dataclass(frozen=True)
class Plan:
    """How much each measurement runs: the full run, or --quick for the smoke test."""

    quick: bool
    blocks: int
    size: int
    sequential: int
    cold_runs: int

    @classmethod
    def of(cls, quick: bool) -> Plan:
        return cls(quick, 6, 50, 2_000, 4) if quick else cls(quick, 60, 50, 10_000, 21)


@dataclass(frozen=True)
class Steady:
    """One token, one connection and flat memory over many sequential cancels (row 4, 7)."""

    tokens: int
    connections: int
    rss_growth: int


@dataclass
class ClientMeasures:
    """Rows 1-7: the function against its baselines, on the emulator alone."""

    main: Comparison
    naive: Comparison
    concurrent: Comparison
    steady: Steady
    cold: tuple[float, float, float]
    imports: list[tuple[str, float]]


# Steps of measure_clients, for the progress display.
CLIENT_STEPS = 7


def measure_clients(plan: Plan, notes: list[str], steps: Progress) -> ClientMeasures:
    blocks, size = plan.blocks, plan.size
    with EmulatorProcess() as emulator:
        env = {**os.environ, **emulator.environment, **OVERHEAD_SETTINGS, "PYTHONPATH": str(REPO_ROOT)}
        os.environ.update({**emulator.environment, **OVERHEAD_SETTINGS})
        from azure.identity import ManagedIdentityCredential

        token = ManagedIdentityCredential().get_token(SCOPE).token
        variants = {
            "bare": bare_client(emulator, token),
            "function (HTTP)": function_http(),
            "function (queue)": function_queue(),
            "SDK": sdk_client(emulator),
            "bare, trust_env off": bare_client(emulator, token, trust_env=False),
        }
        with steps.step("warm-up, and the emulator's own ceiling"):
            for cancel in variants.values():  # warm up: connections, tokens, imports
                for job_id in emulator.seed(f"warm-{id(cancel)}-", 20):
                    cancel(job_id)
            one_bare = rate(variants["bare"], emulator.seed("one-", size))
            ceiling = emulator_ceiling(emulator, token, 2_000 if plan.quick else 5_000)
        notes.append(
            f"Emulator ceiling: {ceiling:,.0f} cancels/s from 4 lean http.client processes, against "
            f"{one_bare:,.0f}/s for one bare requests client: the emulator is not the bottleneck."
        )
        with steps.step(f"5 clients in interleaved blocks of {size} cancels", total=blocks) as step:
            main = Comparison(["bare", "function (HTTP)", "function (queue)", "SDK", "bare, trust_env off"]).run(
                emulator, variants, blocks, size, step=step
            )
        naive_blocks = max(2, blocks // 3)
        with steps.step("the naive client (a credential and session per cancel)", total=naive_blocks) as step:
            naive = Comparison(["function (HTTP)", "naive"]).run(
                emulator,
                {"function (HTTP)": variants["function (HTTP)"], "naive": naive_client(emulator)},
                naive_blocks,
                max(20, size // 4),
                step=step,
            )
        with steps.step(f"{plan.sequential:,} sequential cancels: tokens, connections, memory"):
            steady = measure_steady(emulator, variants["function (HTTP)"], plan.sequential)
        with steps.step("16 threads against answers that take 20 ms", total=3 if plan.quick else 9) as step:
            concurrent = measure_concurrency(emulator, token, variants["function (HTTP)"], quick=plan.quick, step=step)
        with steps.step(f"cold start, {plan.cold_runs} pairs of fresh processes"):
            cold = cold_start(emulator, env, plan.cold_runs)
        with steps.step("import times (python -X importtime)"):
            imports = import_times(env)
    return ClientMeasures(main, naive, concurrent, steady, cold, imports)


def measure_steady(emulator: EmulatorProcess, function: Cancel, sequential: int) -> Steady:
    """One token and one connection over many sequential cancels; and the memory they cost."""
    from cancel_job.runtime import get_service, reset_service

    reset_service()
    get_service()
    stats_before = emulator.control("stats")
    warm = emulator.seed("mem-warm-", 1_000)
    rate(function, warm)
    rss_before = rss_bytes()
    rate(function, emulator.seed("seq-", sequential))
    rss_growth = rss_bytes() - rss_before
    stats_after = emulator.control("stats")
    tokens = stats_after["tokenRequests"] - stats_before["tokenRequests"]
    connections = stats_after["adtConnections"] - stats_before["adtConnections"]
    return Steady(tokens, connections, rss_growth)


def measure_concurrency(
    emulator: EmulatorProcess, token: str, function: Cancel, *, quick: bool, step: Step | None = None
) -> Comparison:
    """16 threads against an ADT that answers in 20 ms."""
    emulator.control("config", {"latency": 0.02})
    concurrent = Comparison(["bare x16", "function x16"]).run(
        emulator,
        {"bare x16": bare_client(emulator, token, pool=16), "function x16": function},
        3 if quick else 9,
        16 * (10 if quick else 20),
        measure=lambda cancel, ids: threaded_rate(cancel, ids, 16),
        step=step,
    )
    emulator.control("config", {"latency": 0.0})
    return concurrent


def client_rows(m: ClientMeasures, sequential: int) -> list[Row]:
    main, steady = m.main, m.steady
    cold_ratio, cold_function, cold_minimal = m.cold
    http_ratio = main.median_ratio("function (HTTP)", "bare")
    queue_ratio = main.median_ratio("function (queue)", "bare")
    sdk_ratio = main.median_ratio("function (HTTP)", "SDK")
    naive_ratio = m.naive.median_ratio("function (HTTP)", "naive")
    tuned_ratio = main.median_ratio("function (HTTP)", "bare, trust_env off")
    concurrency_ratio = m.concurrent.median_ratio("function x16", "bare x16")
    tokens, connections, rss_growth = steady.tokens, steady.connections, steady.rss_growth
    return [
        Row(
            "1. throughput, function (HTTP) / bare requests.Session", f"{http_ratio:.3f}", ">= 0.95", http_ratio >= 0.95
        ),
        Row(
            "1. throughput, function (queue) / bare requests.Session",
            f"{queue_ratio:.3f}",
            ">= 0.95",
            queue_ratio >= 0.95,
        ),
        Row("1. (for reference) function (HTTP) / bare with trust_env off", f"{tuned_ratio:.3f}", "-", None),
        Row("2. function (HTTP) / azure-digitaltwins-core 1.3.0", f"{sdk_ratio:.2f}x", ">= 1.5x", sdk_ratio >= 1.5),
        Row(
            "3. function (HTTP) / naive (credential + session per call)",
            f"{naive_ratio:.1f}x",
            "(what caching buys)",
            None,
        ),
        Row(f"4. token requests over {sequential:,} sequential cancels", str(tokens), "1", tokens == 1),
        Row(
            f"4. TCP connections to ADT over {sequential:,} sequential cancels", str(connections), "1", connections == 1
        ),
        Row(
            "5. cold start to first cancel, function / minimal script",
            f"{cold_ratio:.2f} (median of per-pair ratios; the medians alone: function {cold_function * 1000:.0f} ms,"
            f" minimal {cold_minimal * 1000:.0f} ms)",
            "<= 1.2",
            cold_ratio <= 1.2,
        ),
        Row(
            "6. 16 threads, 20 ms latency: function / bare",
            f"{concurrency_ratio:.3f}",
            ">= 0.9",
            concurrency_ratio >= 0.9,
        ),
        Row(
            f"7. RSS growth over {sequential:,} cancels after warm-up",
            f"{rss_growth / 2**20:.2f} MB",
            "< 5 MB",
            rss_growth < 5 * 2**20,
        ),
    ]
