"""Fault drills: one fault at a time on the stack's topology, under load, with the platform's self-healing
(rehearsal/supervisor.py) and edge (rehearsal/edge.py) in place of App Platform's.

    python -m rehearsal prod --drills [NAME,NAME...] [--settle SECONDS] [--report-json FILE]

Each drill: two temporary webhook workflows whose Code node awaits LONG_CODE_SECONDS (one for the load
during the fault, one for the recovery); a bounded load of LOAD_REQUESTS calls through the edge, each
with a timeout; the fault a few seconds into the load; then a call every second until one succeeds
(the recovery time, counted from the fault); then a recovery batch of RECOVERY_REQUESTS calls. When
every drill has run, the harness waits until `settle` seconds after the last fault and counts each
drill's executions still `new`, `running` or `waiting`, read from the database.

A drill passes when its whole recovery batch succeeds and none of its executions is left `new` or
`running`; the rolling restart must also leave no call failed or unanswered (docs/self-healing.md).
"""

from __future__ import annotations

import argparse
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from platform_model.roles import MAIN, RUNNERS, WEBHOOK, WORKER
from platform_model.topology import DB_NAME

from . import faults, scenarios
from .deployment import JOB, Instance, RehearsalError
from .edge import Edge
from .n8n_api import ApiError, PublicApi
from .rehearse import Options, Running, running
from .services import Postgres, Redis, ServiceError, free_ports
from .supervisor import Supervisor, stop_gracefully

LONG_CODE_SECONDS = 3
LONG_CODE = (f"await new Promise((resolve) => setTimeout(resolve, {LONG_CODE_SECONDS * 1000}));\n"
             + scenarios.CODE)
LOAD_REQUESTS = 40
LOAD_CONCURRENCY = 8
REQUEST_TIMEOUT_SECONDS = 30
FAULT_AFTER_SECONDS = 4
RECOVERY_REQUESTS = 50
RECOVERY_LIMIT_SECONDS = 300
DEFAULT_SETTLE_SECONDS = 300
# What CI runs (docs/self-healing.md says why these): one topology, one settle window, under 12 minutes.
CI_DRILLS = ("kill-worker", "postgres-60s", "rolling-restart")
UNFINISHED = ("new", "running", "waiting")


@dataclass
class Drill:
    name: str
    what: str
    inject: Callable[[Context], str]  # applies (and, for an outage, lifts) the fault; says what it did
    zero_failures: bool = False  # the rolling restart: no call may fail


@dataclass
class Context:
    run: Running
    supervisor: Supervisor
    edge: Edge
    log: Callable[[str], None]

    def instance(self, role: str) -> Instance:
        return self.run.deployment.of_role(role)[0]

    def process(self, role: str):
        return self.run.deployment.processes[self.instance(role).name]

    @property
    def postgres(self) -> Postgres:
        assert self.run.postgres is not None, "the drills run on the rehearsal's own PostgreSQL"
        return self.run.postgres

    @property
    def redis(self) -> Redis:
        assert self.run.redis is not None, "the drills run on the rehearsal's own Redis"
        return self.run.redis


# --- the faults ---------------------------------------------------------------------------------


def kill_runner(ctx: Context) -> str:
    n = faults.kill_children(ctx.process(RUNNERS))
    return f"killed {n} runner process(es) of {ctx.instance(RUNNERS).name}"


def kill_process(role: str) -> Callable[[Context], str]:
    def inject(ctx: Context) -> str:
        faults.kill(ctx.process(role))
        return f"killed {ctx.instance(role).name} (SIGKILL)"
    return inject


def outage(down: Callable[[Context], None], up: Callable[[Context], None], what: str,
           seconds: int) -> Callable[[Context], str]:
    def inject(ctx: Context) -> str:
        down(ctx)
        time.sleep(seconds)
        up(ctx)
        return f"{what} down for {seconds} s"
    return inject


def postgres_outage(seconds: int) -> Callable[[Context], str]:
    return outage(lambda c: faults.postgres_down(c.postgres), lambda c: faults.postgres_up(c.postgres),
                  "PostgreSQL", seconds)


def redis_outage(seconds: int) -> Callable[[Context], str]:
    ca = lambda c: c.run.deployment.pki.ca_cert  # noqa: E731
    return outage(lambda c: faults.redis_down(c.redis, ca(c)), lambda c: faults.redis_up(c.redis, ca(c)),
                  "Redis", seconds)


def rolling_restart(ctx: Context) -> str:
    """What a deployment does: the pre-deploy job, then every component replaced one instance at a time."""
    d = ctx.run.deployment
    for job in d.of_role(JOB):
        code, _ = d.run_job(job)
        if code != 0:
            return f"pre-deploy job {job.component} failed (exit {code}); deployment stopped"
    for inst in [i for role in (MAIN, WORKER, WEBHOOK, RUNNERS) for i in d.of_role(role)]:
        replace(ctx, inst)
    return f"replaced {len(d.of_role(MAIN, WORKER, WEBHOOK, RUNNERS))} instances one at a time"


def replace(ctx: Context, old: Instance) -> None:
    """A service with traffic gets its new container before the old one goes (App Platform's rolling
    deploy); a container that others address by a fixed port here (a worker's broker) is stopped first."""
    sup, d = ctx.supervisor, ctx.run.deployment
    termination = old.spec.get("termination") or {}
    if "http_port" in old.spec and not old.spec.get("internal_ports"):
        new = Instance(old.component, old.role, old.index + 100, dict(old.spec_env), {}, old.spec, old.n8n_args)
        new.ports = dict(zip(old.ports, free_ports(len(old.ports)), strict=False))
        new.spec_env["N8N_PORT"] = str(new.ports[int(old.spec["http_port"])])
        d.instances.append(new)
        sup.add(new)
        sup.wait_ready(new.name, RECOVERY_LIMIT_SECONDS)
        sup.hold(old.name)  # out of rotation: the edge drains it
        time.sleep(float(termination.get("drain_seconds", 15)))
        stop_gracefully(d.processes[old.name], float(termination.get("grace_period_seconds", 120)))
        sup.forget(old.name)
        d.instances.remove(old)
        return
    sup.hold(old.name)
    stop_gracefully(d.processes[old.name], float(termination.get("grace_period_seconds", 120)))
    sup.release(old.name)
    sup.wait_ready(old.name, RECOVERY_LIMIT_SECONDS)


DRILLS = {d.name: d for d in (
    Drill("kill-runner", "a runner process dies mid-task", kill_runner),
    Drill("kill-launcher", "a runner pool's container dies", kill_process(RUNNERS)),
    Drill("kill-worker", "a worker dies mid-execution", kill_process(WORKER)),
    Drill("redis-5s", "Redis unreachable for 5 s", redis_outage(5)),
    Drill("redis-60s", "Redis unreachable for 60 s (Valkey standby failover)", redis_outage(60)),
    Drill("postgres-5s", "PostgreSQL unreachable for 5 s", postgres_outage(5)),
    Drill("postgres-60s", "PostgreSQL unreachable for 60 s (standby failover)", postgres_outage(60)),
    Drill("kill-main", "main dies", kill_process(MAIN)),
    Drill("rolling-restart", "a deployment replaces every component", rolling_restart, zero_failures=True),
)}


# --- measuring ----------------------------------------------------------------------------------


@dataclass
class DrillResult:
    name: str
    what: str
    fault: str = ""
    sent: int = 0
    answered_correctly: int = 0
    failed: int = 0
    no_answer: int = 0
    failures: dict[str, int] = field(default_factory=dict)  # first words of each error -> count
    recovery_seconds: float | None = None  # from the fault until a new call succeeded
    recovery_ok: int = 0
    recovery_sent: int = 0
    executions: dict[str, int] = field(default_factory=dict)  # the load's executions by final status
    unfinished: dict[str, int] = field(default_factory=dict)  # new/running/waiting `settled_seconds` later
    settled_seconds: float = 0.0
    restarts: dict[str, list[str]] = field(default_factory=dict)
    zero_failures: bool = False
    fault_at: float = field(default=0.0, repr=False)
    workflows: list[str] = field(default_factory=list, repr=False)

    @property
    def ok(self) -> bool:
        stuck = sum(self.unfinished.get(s, 0) for s in ("new", "running"))
        calm = not self.zero_failures or (self.failed == 0 and self.no_answer == 0)
        return self.recovery_sent > 0 and self.recovery_ok == self.recovery_sent and stuck == 0 and calm

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("fault_at", "workflows")} | {"ok": self.ok}

    def check(self) -> scenarios.Check:
        return scenarios.Check(
            f"drill {self.name}: {self.what}", self.ok,
            f"{self.fault}; load {self.answered_correctly}/{self.sent} answered correctly, {self.failed} failed "
            f"{self.failures or ''}, {self.no_answer} without an answer in {REQUEST_TIMEOUT_SECONDS} s; "
            f"executions {self.executions}; new calls succeed {self.recovery_seconds} s after the fault; "
            f"recovery batch {self.recovery_ok}/{self.recovery_sent}; {self.settled_seconds:.0f} s after the fault "
            f"still unfinished: {self.unfinished or 'none'}; restarts: {self.restarts or 'none'}")


def call_all(url: str, total: int) -> list[tuple]:
    with ThreadPoolExecutor(LOAD_CONCURRENCY) as pool:
        return list(pool.map(lambda _: scenarios.call_webhook(url, REQUEST_TIMEOUT_SECONDS), range(total)))


def correct(result: tuple) -> bool:
    payload, error = result[0], result[1]
    return error is None and bool(payload) and payload.get("squares") == scenarios.CODE_RESULT


def tally(result: DrillResult, calls: list[tuple]) -> None:
    result.sent = len(calls)
    result.answered_correctly = sum(correct(c) for c in calls)
    result.no_answer = sum(1 for c in calls if c[3])
    result.failed = result.sent - result.answered_correctly - result.no_answer
    for c in calls:
        if not correct(c) and not c[3]:
            reason = " ".join(str(c[1] or "wrong answer").split()[:6])
            result.failures[reason] = result.failures.get(reason, 0) + 1


def wait_recovered(url: str, since: float) -> float | None:
    deadline = time.monotonic() + RECOVERY_LIMIT_SECONDS
    while time.monotonic() < deadline:
        if correct(scenarios.call_webhook(url, REQUEST_TIMEOUT_SECONDS)):
            return round(time.monotonic() - since, 1)
        time.sleep(1)
    return None


def run_drill(ctx: Context, temps: scenarios.Temporaries, drill: Drill) -> DrillResult:
    result = DrillResult(drill.name, drill.what, zero_failures=drill.zero_failures)
    urls = []
    for _ in ("load", "recovery"):
        path = f"n8n-platform-drill-{uuid.uuid4().hex[:12]}"
        result.workflows.append(temps.create(scenarios.webhook_workflow(path, LONG_CODE), activate=True)["id"])
        urls.append(f"{ctx.edge.url}/webhook/{path}")
        scenarios.first_call(urls[-1], REQUEST_TIMEOUT_SECONDS)  # published and warm; counted with the rest
    calls: list[tuple] = []
    load = threading.Thread(target=lambda: calls.extend(call_all(urls[0], LOAD_REQUESTS)))
    before = ctx.supervisor.restarts()
    load.start()
    time.sleep(FAULT_AFTER_SECONDS)
    result.fault_at = time.monotonic()
    ctx.log(f"drill {drill.name}: injecting the fault")
    result.fault = drill.inject(ctx)
    result.recovery_seconds = wait_recovered(urls[1], result.fault_at)
    load.join()
    tally(result, calls)
    recovery = call_all(urls[1], RECOVERY_REQUESTS)
    result.recovery_sent, result.recovery_ok = len(recovery), sum(correct(c) for c in recovery)
    after = ctx.supervisor.restarts()
    result.restarts = {n: r[len(before.get(n, [])):] for n, r in after.items() if len(r) > len(before.get(n, []))}
    ctx.supervisor.wait_all_ready(RECOVERY_LIMIT_SECONDS)
    return result


def count_statuses(run: Running, workflow_id: str) -> dict[str, int]:
    """The workflow's executions by status, read from the database: n8n's public list leaves out the
    executions main still awaits unless asked for `running` (2.41.1 execution.service findManyAndCount),
    and a drill must see every one."""
    if not workflow_id.isalnum():
        raise RehearsalError(f"unexpected workflow id {workflow_id!r}")
    assert run.postgres is not None, "the rehearsal runs its own PostgreSQL"
    rows = run.postgres.superuser_sql(f"SELECT status, count(*) FROM execution_entity WHERE \"workflowId\" = "
                                      f"'{workflow_id}' GROUP BY status ORDER BY status", database=DB_NAME)
    return {status: int(n) for status, n in (line.split("|") for line in rows.splitlines() if line)}


def settle(run: Running, results: list[DrillResult], seconds: float, log) -> None:
    """Wait until `seconds` after the last fault, then read every drill's executions."""
    wait = max(r.fault_at for r in results) + seconds - time.monotonic()
    if wait > 0:
        log(f"waiting {wait:.0f} s, until {seconds:.0f} s after the last fault, to count unfinished executions")
        time.sleep(wait)
    for r in results:
        r.settled_seconds = round(time.monotonic() - r.fault_at, 0)
        r.executions = count_statuses(run, r.workflows[0])
        r.unfinished = {}
        for wf in r.workflows:
            for status, n in count_statuses(run, wf).items():
                if status in UNFINISHED:
                    r.unfinished[status] = r.unfinished.get(status, 0) + n


def run_drills(ctx: Context, names: list[str], settle_seconds: float) -> list[DrillResult]:
    api = PublicApi(ctx.edge.url, ctx.run.api_key)  # through the edge: the rolling restart replaces main
    results = []
    try:
        with scenarios.temporary_workflows(api) as temps:
            for name in names:
                results.append(run_drill(ctx, temps, DRILLS[name]))
                ctx.log(f"drill {name}: {results[-1].check().detail}")
            settle(ctx.run, results, settle_seconds, ctx.log)
    except ApiError as err:
        ctx.log(f"drills stopped: {err}")
        raise
    return results


def rehearse_drills(opts: Options, names: list[str], settle_seconds: float, log=print) -> scenarios.Report:
    report = scenarios.Report(f"Fault drills on stack {opts.stack}: {', '.join(names)}")
    try:
        with (running(opts, report, log) as run, Supervisor(run.deployment, log) as sup,
              Edge(run.deployment.ingress, sup.ready_instances) as edge):
            results = run_drills(Context(run, sup, edge, log), names, settle_seconds)
    except (RehearsalError, ApiError, ServiceError) as err:
        report.checks.append(scenarios.Check("fault drills ran", False, str(err)))
        return report
    report.checks += [r.check() for r in results]
    report.drills = [r.as_dict() for r in results]
    return report


def drill_names(text: str) -> list[str]:
    """`--drills` argument: empty for all, or names separated by commas."""
    names = [n.strip() for n in text.split(",") if n.strip()] or list(DRILLS)
    unknown = [n for n in names if n not in DRILLS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown drill(s) {', '.join(unknown)}; the drills are "
                                         f"{', '.join(DRILLS)}")
    return names
