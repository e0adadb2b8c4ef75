"""The deployment checklist as checks, shared by the rehearsal (local processes) and `verify` (a live
deployment): health, webhook → queue → worker → Code node → response across every worker pair, a
manual execution as the editor runs it, a schedule-triggered Code node, and a bounded load run.

Every check works through n8n's own APIs: temporary workflows are created with the public API, carry
the name prefix `TEMP_PREFIX`, and are deactivated and deleted when the check ends — also on Ctrl-C or
SIGTERM (`temporary_workflows`) — and a later run deletes any a killed run left behind.

Which worker pair served an execution is not something n8n's API tells. The rehearsal knows it from
its own processes (`Observer`): each worker's log names the executions it ran ("Worker started
execution N"), and each broker's log names the runners that registered with it, whose ids our launcher
prefixes with the pool's name. Against a live deployment these facts are not reachable, and the report
says so instead of guessing.
"""

from __future__ import annotations

import contextlib
import json
import signal
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from platform_model import catalog

from .n8n_api import ApiError, EditorSession, PublicApi, request

TEMP_PREFIX = "n8n-platform check"
# A webhook call must wait longer than the task request timeout to see a Code node's "Task request timed out".
WEBHOOK_TIMEOUT_SECONDS = catalog.TASK_REQUEST_TIMEOUT_SECONDS + 30
FINISHED = {"success", "error", "crashed", "canceled"}
STUCK_STATUSES = ("running", "new")
# EXECUTIONS_TIMEOUT_MAX (n8n 2.41.1 @n8n/config executions.config: 1 hour): no workflow can be given a
# longer timeout, so an execution running longer has lost its owner or was never given a timeout.
MAX_EXECUTION_TIMEOUT_SECONDS = 3600
# Bounds of the load run's arguments (`python -m rehearsal`, `python -m rehearsal.verify`): more than one
# machine or a live deployment under test should take, and longer than any caller waits.
MAX_LOAD_REQUESTS = 100_000
MAX_LOAD_CONCURRENCY = 256
MAX_REQUEST_TIMEOUT_SECONDS = 3600

# The Code node every check runs: it computes something (so a result proves JavaScript ran in a
# runner) and returns the execution's id, so the caller can find the execution.
CODE = ("return [{ json: { check: 'n8n-platform', executionId: $execution.id, mode: $execution.mode, "
        "squares: [1, 2, 3].map((n) => n * n) } }];")
CODE_RESULT = [1, 4, 9]


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    pair: str | None = None  # "n8n-worker-2 / n8n-runners-2" when the check is about one pair

    def as_dict(self) -> dict:
        return {"name": self.name, "ok": self.ok, "detail": self.detail, "pair": self.pair}


@dataclass
class LoadResult:
    requests: int
    concurrency: int
    timeout_seconds: float
    seconds: float
    succeeded: int
    failed: int
    hung: int
    p50_ms: float
    p95_ms: float
    per_pair: dict[str, int] = field(default_factory=dict)
    worker_slots: int | None = None  # the stack's pairs × N8N_CONCURRENCY_PRODUCTION_LIMIT

    @property
    def throughput(self) -> float:
        return self.succeeded / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict:
        return {**self.__dict__, "throughput_per_second": round(self.throughput, 2)}


class Observer(Protocol):
    """What only the rehearsal can see: its own processes' state."""

    def health_endpoints(self) -> list[tuple[str, str]]: ...  # (what, URL) that must answer 200

    def pairs(self) -> list[tuple[str, str]]: ...  # (broker, runner pool), main's pool included

    def registered_runners(self) -> dict[str, list[str]]: ...  # broker -> runner ids it registered

    def worker_of(self, execution_id: str) -> str | None: ...  # the worker that ran it, if any


@dataclass
class Target:
    url: str  # the app's URL: main (UI, API)
    api: PublicApi
    webhook_url: str  # where /webhook/ goes (main, or the webhook processors)
    editor: EditorSession | None = None
    observer: Observer | None = None
    offload_manual: bool | None = None  # the stack's n8n.offloadManualExecutions, when known


def pair_label(broker: str, pool: str) -> str:
    return f"{broker} / {pool}"


# --- temporary workflows ------------------------------------------------------------------------


def _node(name: str, type_: str, version: float, position: int, parameters: dict, **extra) -> dict:
    return {"id": str(uuid.uuid4()), "name": name, "type": type_, "typeVersion": version,
            "position": [position * 220, 0], "parameters": parameters, **extra}


def _workflow(name: str, trigger: dict, js: str = CODE) -> dict:
    code = _node("Code", "n8n-nodes-base.code", 2, 1, {"jsCode": js})
    return {"name": f"{TEMP_PREFIX} {name} {uuid.uuid4().hex[:8]}", "nodes": [trigger, code],
            "connections": {trigger["name"]: {"main": [[{"node": "Code", "type": "main", "index": 0}]]}},
            "settings": {"executionOrder": "v1"}}


def webhook_workflow(path: str, js: str = CODE) -> dict:
    hook = _node("Webhook", "n8n-nodes-base.webhook", 2, 0,
                 {"httpMethod": "POST", "path": path, "responseMode": "lastNode", "options": {}},
                 webhookId=str(uuid.uuid4()))
    return _workflow("webhook", hook, js)


MANUAL_TRIGGER = "Manual trigger"


def manual_workflow() -> dict:
    return _workflow("manual", _node(MANUAL_TRIGGER, "n8n-nodes-base.manualTrigger", 1, 0, {}))


def schedule_workflow(every_seconds: int) -> dict:
    rule = {"interval": [{"field": "seconds", "secondsInterval": every_seconds}]}
    return _workflow("schedule", _node("Schedule", "n8n-nodes-base.scheduleTrigger", 1.2, 0, {"rule": rule}))


class Interrupted(BaseException):
    """SIGTERM/SIGINT during a check: unwinds like KeyboardInterrupt so cleanup runs."""


def remove_workflow(api: PublicApi, workflow_id: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        # A published workflow cannot be deleted; one that is not active (or not yet) fails here, and the
        # delete below says which.
        with contextlib.suppress(ApiError):
            api.deactivate(workflow_id)
        try:
            api.delete_workflow(workflow_id)
            return
        except ApiError as err:
            if err.status == 404:  # already gone: e.g. `rehearsal.verify` removed it as a leftover meanwhile
                return
            # 409: n8n still (un)publishes in the background — an activation interrupted by a signal
            # can even complete after our deactivation; a delete racing that activation can also get
            # a 500. Deactivate again and retry.
            if not (err.status == 409 or (err.status or 0) >= 500) or time.monotonic() > deadline:
                raise
            time.sleep(1)


def delete_leftovers(api: PublicApi) -> list[str]:
    """Delete temporary workflows an earlier, killed run left behind; returns their names."""
    removed = []
    for wf in api.workflows():
        if wf.get("name", "").startswith(TEMP_PREFIX):
            remove_workflow(api, wf["id"])
            removed.append(wf["name"])
    return removed


class Temporaries:
    """The temporary workflows of one check. The name is recorded before the create call, so even a
    signal between n8n creating a workflow and us learning its id cannot leave it behind."""

    def __init__(self, api: PublicApi):
        self.api = api
        self.names: list[str] = []
        self.ids: dict[str, str] = {}  # name -> id

    def create(self, workflow: dict, activate: bool = False) -> dict:
        self.names.append(workflow["name"])
        wf = self.api.create_workflow(workflow)
        self.ids[workflow["name"]] = wf["id"]
        if activate:
            self.api.activate(wf["id"])
        return wf

    def remove_all(self, settle: float = 10) -> None:
        problems = []
        # A create call cut short by a signal may still complete on the server: look for it by name
        # for a few seconds before concluding that it was never created.
        deadline = time.monotonic() + settle
        while set(self.names) - set(self.ids) and time.monotonic() < deadline:
            for wf in self.api.workflows():
                if wf.get("name") in self.names:
                    self.ids[wf["name"]] = wf["id"]
            if set(self.names) - set(self.ids):
                time.sleep(0.5)
        for wf_id in self.ids.values():
            try:
                remove_workflow(self.api, wf_id)
            except ApiError as err:
                problems.append(str(err))
        if problems:
            raise RuntimeError("could not delete temporary workflows: " + "; ".join(problems))


@contextmanager
def temporary_workflows(api: PublicApi) -> Iterator[Temporaries]:
    """Workflows created through the yielded object are deleted on the way out, whatever happens —
    SIGTERM and SIGINT included (they raise `Interrupted` in the main thread)."""
    temps = Temporaries(api)
    previous = {}
    in_main = threading.current_thread() is threading.main_thread()

    def interrupt(signum, _frame):
        raise Interrupted(signal.Signals(signum).name)

    if in_main:
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, interrupt)
    deferred: list[int] = []
    interrupted = False
    try:
        yield temps
    except Interrupted:
        interrupted = True
        raise
    finally:
        if in_main:  # a signal during the cleanup must not cut it short: it takes effect afterwards
            for sig in previous:
                signal.signal(sig, lambda signum, _frame: deferred.append(signum))
        try:
            temps.remove_all()
        except RuntimeError as err:
            if not (interrupted or deferred):
                raise
            # Stopping wins; the next run deletes what is left (name prefix).
            print(f"{err}; the next run deletes it", file=sys.stderr)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if deferred and not interrupted:
            raise Interrupted(signal.Signals(deferred[0]).name)


# --- reading executions -------------------------------------------------------------------------


def wait_finished(api: PublicApi, execution_id: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        try:
            ex = api.execution(execution_id)
            if ex.get("finished") or ex.get("status") in FINISHED:
                return ex
        except ApiError as err:
            if err.status != 404:  # the execution row appears a moment after the run starts
                raise
        if time.monotonic() > deadline:
            raise TimeoutError(f"execution {execution_id} not finished after {timeout:.0f} s")
        time.sleep(0.5)


def code_output(ex: dict) -> dict | None:
    runs = ((ex.get("data") or {}).get("resultData") or {}).get("runData", {}).get("Code") or []
    try:
        return runs[0]["data"]["main"][0][0]["json"]
    except (IndexError, KeyError, TypeError):
        return None


def execution_error(ex: dict) -> str:
    result = (ex.get("data") or {}).get("resultData") or {}
    error = result.get("error") or {}
    for run in (result.get("runData") or {}).get("Code") or []:
        error = error or run.get("error") or {}
    message, description = error.get("message"), error.get("description")
    if description:  # n8n's descriptions run on for paragraphs; the first sentence says what happened
        description = description.split("<br")[0].split(". ")[0].rstrip(".")
    if message and description and description not in message:
        return f"{message} ({description})"
    return str(message or description or ex.get("status"))


def ran_code(ex: dict) -> bool:
    out = code_output(ex)
    return ex.get("status") == "success" and out is not None and out.get("squares") == CODE_RESULT


def describe_runners(observer: Observer | None, broker: str) -> str:
    if observer is None:
        return ""
    runners = observer.registered_runners().get(broker, [])
    return f"; {broker}'s broker had runners {', '.join(runners) or 'none'} registered"


# --- the checks ---------------------------------------------------------------------------------


def check_health(target: Target) -> list[Check]:
    checks = []
    endpoints = (target.observer.health_endpoints() if target.observer else
                 [("main /healthz", f"{target.url}/healthz"),
                  ("main /healthz/readiness", f"{target.url}/healthz/readiness")])
    for what, url in endpoints:
        try:
            status = request("GET", url, timeout=10)[0]
            checks.append(Check(f"health: {what}", status == 200, f"GET {url} -> {status}"))
        except ApiError as err:
            checks.append(Check(f"health: {what}", False, str(err)))
    if target.observer is None:
        return checks  # workers, brokers and runner pools have no public address
    registered = target.observer.registered_runners()
    for broker, pool in target.observer.pairs():
        runners = registered.get(broker, [])
        own = [r for r in runners if r.startswith(f"{pool}-")]
        foreign = [r for r in runners if r not in own]
        ok = bool(own) and not foreign
        detail = (f"{broker}'s broker registered {', '.join(own)}" if own else
                  f"no runner of {pool} registered with {broker}'s broker")
        if foreign:
            detail += f"; foreign runners registered: {', '.join(foreign)}"
        checks.append(Check(f"health: {pool} registered with its broker", ok, detail, pair_label(broker, pool)))
    return checks


def check_unfinished(api: PublicApi, older_than_seconds: float) -> Check:
    """Executions `running` or `new` for longer than any timeout allows: after an incident, the ones whose
    owner died and that n8n's queue recovery has not yet marked crashed (docs/self-healing.md)."""
    now = datetime.now(UTC)
    stuck = []
    for status in STUCK_STATUSES:  # the list leaves out running executions unless asked for them by status
        for ex in api.paged("/executions", status=status):
            started = ex.get("startedAt")
            age = (now - datetime.fromisoformat(started.replace("Z", "+00:00"))).total_seconds() if started else 0
            if age > older_than_seconds:
                stuck.append(f"{ex['id']} ({status} {age / 60:.0f} min, workflow {ex.get('workflowId')})")
    name = f"no execution running or new for more than {older_than_seconds:.0f} s"
    if not stuck:
        return Check(name, True, "none")
    return Check(name, False, f"{len(stuck)} stuck: {', '.join(stuck[:20])}" + (" ..." if len(stuck) > 20 else ""))


def call_webhook(url: str, timeout: float) -> tuple[dict | None, str | None, float, bool]:
    """(response JSON, error, seconds, hung)."""
    started = time.monotonic()
    try:
        payload = request("POST", url, {"from": TEMP_PREFIX}, timeout=timeout)[2]
        return (payload if isinstance(payload, dict) else None), None, time.monotonic() - started, False
    except ApiError as err:
        hung = err.status is None and "timed out" in str(err)
        return None, str(err), time.monotonic() - started, hung


def first_call(url: str, timeout: float, wait: float = 60) -> tuple[dict | None, str | None, float, bool]:
    """The first call of a newly activated webhook. n8n publishes an activated workflow in the
    background: until it has, the webhook answers 404 "not registered" (and runs nothing)."""
    deadline = time.monotonic() + wait
    while True:
        result = call_webhook(url, timeout)
        if not (result[1] and "404" in result[1] and "not registered" in result[1]) or time.monotonic() > deadline:
            return result
        time.sleep(0.5)


def unanswered(failed_calls: list, executions: list[dict]) -> str:
    hung = sum(1 for c in failed_calls if c[3])
    finished = sum(1 for e in executions if ran_code(e))
    detail = f"{len(failed_calls)} call(s) failed ({hung} without any answer): {failed_calls[0][1]}"
    if hung and finished == len(executions):
        detail += (f"; all {len(executions)} executions finished successfully, so main did not relay "
                   "the result of some to their callers")
    return detail


def check_webhook_pairs(target: Target, max_rounds: int = 6, batch: int | None = None) -> list[Check]:
    """Webhook calls until every worker pair has served at least one (rehearsal), or a fixed batch
    (live); then every execution is read back and attributed."""
    obs = target.observer
    workers = [b for b, _ in obs.pairs() if b.startswith("n8n-worker-")] if obs else []
    pools = dict(obs.pairs()) if obs else {}
    with temporary_workflows(target.api) as temps:
        path = f"n8n-platform-check-{uuid.uuid4().hex[:12]}"
        wf = temps.create(webhook_workflow(path), activate=True)
        url = f"{target.webhook_url}/webhook/{path}"
        batch = batch or max(4, 2 * len(workers))
        responses = [first_call(url, WEBHOOK_TIMEOUT_SECONDS)]
        seen: dict[str, str | None] = {}  # execution id -> worker
        for _ in range(max_rounds):
            with ThreadPoolExecutor(batch) as pool:
                responses += list(pool.map(lambda _: call_webhook(url, WEBHOOK_TIMEOUT_SECONDS), range(batch)))
            executions = target.api.executions(wf["id"])
            if obs:
                seen = {str(e["id"]): obs.worker_of(str(e["id"])) for e in executions}
                if set(workers) <= set(seen.values()):
                    break
        executions = [wait_finished(target.api, str(e["id"]), WEBHOOK_TIMEOUT_SECONDS)
                      for e in target.api.executions(wf["id"])]
    checks = []
    failed_calls = [r for r in responses if r[1]]
    if obs is None:
        good = [e for e in executions if ran_code(e) and e.get("mode") == "webhook"]
        ok = not failed_calls and len(good) == len(responses)
        detail = (f"{len(responses)} calls, {len(good)} executions ran the Code node (mode webhook); "
                  "which pair served each is not visible from outside")
        if failed_calls:
            detail += f"; {unanswered(failed_calls, executions)}"
        return [Check("webhook → queue → worker → Code node → response", ok, detail)]
    by_worker: dict[str | None, list[dict]] = {}
    for ex in executions:
        by_worker.setdefault(obs.worker_of(str(ex["id"])), []).append(ex)
    for worker in workers:
        mine = by_worker.get(worker, [])
        label = pair_label(worker, pools[worker])
        if not mine:
            checks.append(Check(f"webhook via {worker}", False,
                                f"no execution reached {worker} in {len(responses)} calls", label))
            continue
        bad = [e for e in mine if not ran_code(e)]
        ids = ", ".join(str(e["id"]) for e in mine)
        if bad:
            detail = (f"{len(bad)} of {len(mine)} executions failed on {worker} (ids {ids}): "
                      f"{execution_error(bad[0])}{describe_runners(obs, worker)}")
        else:
            detail = (f"{len(mine)} executions (ids {ids}) ran on {worker}, Code node served by "
                      f"{pools[worker]}{describe_runners(obs, worker)}")
        checks.append(Check(f"webhook via {worker}", not bad, detail, label))
    stray = by_worker.get(None, [])
    if stray:
        checks.append(Check("webhook executions on workers", False,
                            f"executions {', '.join(str(e['id']) for e in stray)} ran on no worker"))
    if failed_calls:
        checks.append(Check("webhook responses", False, unanswered(failed_calls, executions)))
    return checks


def check_manual(target: Target) -> Check:
    name = "manual execution (as the editor runs it)"
    obs = target.observer
    assert target.editor is not None, "a manual run needs an editor session"
    with temporary_workflows(target.api) as temps:
        wf = temps.create(manual_workflow())
        execution_id = target.editor.run_manually(wf["id"], MANUAL_TRIGGER)
        ex = wait_finished(target.api, execution_id, WEBHOOK_TIMEOUT_SECONDS)
    ok = ran_code(ex) and ex.get("mode") == "manual"
    worker = obs.worker_of(execution_id) if obs else None
    if obs is None:
        where = "which process served it is not visible from outside"
    elif target.offload_manual:
        ok = ok and worker is not None
        where = (f"ran on {worker} (offloaded), Code node served by {dict(obs.pairs())[worker]}"
                 if worker else "ran on no worker although manual executions are offloaded")
    else:
        main_pool = dict(obs.pairs()).get("n8n-main")
        ok = ok and worker is None and main_pool is not None
        where = (f"ran on n8n-main (offload off), Code node served by {main_pool}"
                 f"{describe_runners(obs, 'n8n-main')}" if worker is None else f"ran on {worker}, expected n8n-main")
    status = "ran the Code node" if ran_code(ex) else f"failed: {execution_error(ex)}"
    return Check(name, ok, f"execution {execution_id} (mode {ex.get('mode')}) {status}; {where}")


def check_schedule(target: Target, every_seconds: int = 10, timeout: float = 90) -> Check:
    name = "schedule-triggered Code node"
    obs = target.observer
    with temporary_workflows(target.api) as temps:
        wf = temps.create(schedule_workflow(every_seconds), activate=True)
        deadline = time.monotonic() + timeout
        finished: list[dict] = []
        while not finished and time.monotonic() < deadline:
            time.sleep(1)
            finished = [e for e in target.api.executions(wf["id"]) if e.get("finished") or e.get("status") in FINISHED]
        target.api.deactivate(wf["id"])
        if not finished:
            return Check(name, False,
                         f"no scheduled execution finished within {timeout:.0f} s (every {every_seconds} s)")
        ex = target.api.execution(str(finished[0]["id"]))
    worker = obs.worker_of(str(ex["id"])) if obs else None
    ok = ran_code(ex) and ex.get("mode") == "trigger" and (obs is None or worker is not None)
    where = ("which worker is not visible from outside" if obs is None else
             f"ran on {worker}, Code node served by {dict(obs.pairs())[worker]}" if worker else "ran on no worker")
    status = "ran the Code node" if ran_code(ex) else f"failed: {execution_error(ex)}"
    return Check(name, ok, f"execution {ex['id']} (mode {ex.get('mode')}) {status}; {where}")


def run_load(target: Target, total: int, concurrency: int, timeout: float,
             worker_slots: int | None = None) -> LoadResult:
    obs = target.observer
    with temporary_workflows(target.api) as temps:
        path = f"n8n-platform-load-{uuid.uuid4().hex[:12]}"
        temps.create(webhook_workflow(path), activate=True)
        url = f"{target.webhook_url}/webhook/{path}"
        first_call(url, timeout)  # warm-up, not counted
        started = time.monotonic()
        with ThreadPoolExecutor(concurrency) as pool:
            results = list(pool.map(lambda _: call_webhook(url, timeout), range(total)))
        seconds = time.monotonic() - started
    ok = [r for r in results if r[1] is None and r[0] and r[0].get("squares") == CODE_RESULT]
    hung = sum(1 for r in results if r[3])
    latencies = sorted(r[2] * 1000 for r in ok) or [0.0]
    per_pair: dict[str, int] = {}
    if obs:
        for payload in [r[0] for r in ok if r[0] is not None]:
            worker = obs.worker_of(str(payload.get("executionId")))
            per_pair[worker or "unknown"] = per_pair.get(worker or "unknown", 0) + 1
    p95 = statistics.quantiles(latencies, n=20)[18] if len(latencies) >= 20 else latencies[-1]
    return LoadResult(total, concurrency, timeout, round(seconds, 2), len(ok), total - len(ok) - hung, hung,
                      round(statistics.median(latencies), 1), round(p95, 1), per_pair, worker_slots)


def load_check(result: LoadResult) -> Check:
    ok = result.failed == 0 and result.hung == 0
    slots = f" against {result.worker_slots} worker slots" if result.worker_slots else ""
    spread = f"; per worker: {result.per_pair}" if result.per_pair else ""
    return Check(f"load: {result.requests} webhook executions at concurrency {result.concurrency}{slots}", ok,
                 f"{result.throughput:.1f}/s, p50 {result.p50_ms:.0f} ms, p95 {result.p95_ms:.0f} ms, "
                 f"{result.failed} failed, {result.hung} hung (timeout {result.timeout_seconds:.0f} s){spread}")


# --- the report ---------------------------------------------------------------------------------


def guarded(name: str, check, *args) -> list[Check]:
    """Run a check; an error it did not expect (n8n answered oddly, a timeout) becomes a failed check."""
    try:
        result = check(*args)
    except (ApiError, TimeoutError, RuntimeError, KeyError, TypeError, ValueError) as err:
        return [Check(name, False, f"{type(err).__name__}: {err}")]
    return result if isinstance(result, list) else [result]


@dataclass
class Report:
    title: str
    checks: list[Check] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    load: LoadResult | None = None
    pool: dict | None = None  # what PgBouncer and PostgreSQL saw of n8n's connections (rehearsal with a pool)
    notes: list[str] = field(default_factory=list)
    drills: list[dict] = field(default_factory=list)  # one entry per fault drill (rehearsal/drills.py)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def failing_pairs(self) -> list[str]:
        return sorted({c.pair for c in self.checks if not c.ok and c.pair})

    def render(self) -> str:
        lines = [self.title, ""]
        for c in self.checks:
            lines.append(f"  [{'PASS' if c.ok else 'FAIL'}] {c.name}")
            lines.append(f"         {c.detail}")
        if self.timings:
            lines += ["", "  timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in self.timings.items())]
        lines += [f"  note: {n}" for n in self.notes]
        verdict = "all checks passed" if self.ok else (
            f"{sum(not c.ok for c in self.checks)} check(s) failed"
            + (f"; failing worker pair(s): {', '.join(self.failing_pairs)}" if self.failing_pairs else ""))
        lines += ["", f"RESULT: {verdict}"]
        return "\n".join(lines)

    def emit(self, json_path: str | None = None) -> int:
        """Print the report (and write it as JSON); the exit code: 0 all passed, 1 a check failed."""
        print(self.render())
        if json_path:
            with open(json_path, "w") as fh:
                json.dump(self.as_dict(), fh, indent=2)
        return 0 if self.ok else 1

    def as_dict(self) -> dict:
        return {"title": self.title, "ok": self.ok, "failing_pairs": self.failing_pairs,
                "checks": [c.as_dict() for c in self.checks], "timings": self.timings,
                "load": self.load.as_dict() if self.load else None, "pool": self.pool, "notes": self.notes,
                "drills": self.drills}
