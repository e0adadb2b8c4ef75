"""One rehearsal: render a stack's App spec, run every component of it as real processes on this machine,
run the checklist against them, stop everything, and report.

Order, as App Platform deploys: the clusters (and the stack's connection pool) exist first; the
PRE_DEPLOY job (`n8n-db-grants`) runs and must succeed; then main (which runs n8n's database migrations),
then the workers and webhook processors, then the runner pools.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from builders.deployment import stack_pool_size
from offline.render import offline_spec
from platform_model import catalog
from platform_model.ingress import routes
from platform_model.topology import DB_POOL
from settings.model import NAMESPACE, Settings
from stack.loader import config_for_engine, load_settings, read_stack_file

from . import scenarios
from .deployment import (
    JOB,
    RUNNERS,
    WEBHOOK,
    WORKER,
    Instance,
    LocalDeployment,
    RehearsalError,
    plan_instances,
    substitutions_for,
)
from .deployment import MAIN as MAIN_ROLE
from .install import ensure_n8n
from .n8n_api import ApiError, EditorSession, PublicApi
from .pgbouncer import PgBouncer, PoolUse, PoolWatch, observe, pool_check, start_pgbouncer
from .pki import Pki, make_pki
from .services import Postgres, Redis, ServiceError, free_ports, start_postgres, start_redis, strong_secret

# n8n's broker logs `Registered runner "<name>" (<id>)`; with N8N_LOG_FORMAT=json the quotes are escaped.
REGISTERED = re.compile(r'Registered runner \\?".*?\\?" \(([^)\s]+)\)')
STARTED = re.compile(r"Worker started execution (\d+) \(job")
OWNER_EMAIL = "owner@rehearsal.invalid"


@dataclass
class Options:
    stack: str
    offload: bool | None = None  # override n8n.offloadManualExecutions
    pool: bool = False  # override postgres.connectionPool.mode: transaction (n8n through PgBouncer)
    negative_control: bool = False  # give the last pair's runner pool a wrong auth token
    skip_db_grants: bool = False  # do not run the pre-deploy job (shows why it exists)
    load_requests: int = 300
    load_concurrency: int = 8
    load_timeout: float = 30
    keep_run_dir: bool = False
    # The restore drill (rehearsal/restore_drill.py): secrets to use instead of fresh ones (by redaction
    # label, e.g. encryptionKey), a restore into the fresh cluster after the pre-deploy job and before
    # main, and the restored owner's password and API key (a restored n8n has its owner already).
    secrets: dict[str, str] = field(default_factory=dict)
    restore: Callable[[Postgres, Pki], None] | None = None
    login: tuple[str, str] | None = None


def stack_settings(stack: str, offload: bool | None, pool: bool = False, version: str | None = None) -> Settings:
    """The stack's settings, with `n8n.offloadManualExecutions` and `n8n.version` overridden when asked, and
    with a transaction-mode connection pool (the stack's own size, if it sets one) for `pool`."""
    read = read_stack_file(stack)
    config = copy.deepcopy(read.config)
    key = f"{NAMESPACE}:n8n"
    if offload is not None:
        config[key] = {**(config.get(key) or {}), "offloadManualExecutions": offload}
    if version is not None:
        config[key] = {**(config.get(key) or {}), "version": version}
    if pool:
        key = f"{NAMESPACE}:postgres"
        postgres = config.get(key) or {}
        config[key] = {**postgres, "connectionPool": {**(postgres.get("connectionPool") or {}), "mode": "transaction"}}
    return load_settings(config_for_engine(config), read.stack, read.source)


class LocalObserver:
    """The rehearsal's view into its own processes (see scenarios.Observer)."""

    def __init__(self, deployment: LocalDeployment):
        self.d = deployment

    def _log(self, name: str) -> str:
        proc = self.d.processes.get(name)
        return proc.log_text() if proc else ""

    def brokers(self) -> list[Instance]:
        return [i for i in self.d.instances if i.spec_env.get("N8N_RUNNERS_MODE") == "external"]

    def health_endpoints(self) -> list[tuple[str, str]]:
        endpoints = []
        for inst in self.d.instances:
            url = self.d.health_url(inst)
            if url:  # the spec's own health checks: main/webhook /healthz, workers /healthz/readiness, launchers
                endpoints.append((f"{inst.name} {url.split('/', 3)[3]}", url))
        for broker in self.brokers():
            endpoints.append((f"{broker.name} task broker /healthz", broker.url(catalog.BROKER_PORT) + "/healthz"))
        return endpoints

    def pairs(self) -> list[tuple[str, str]]:
        pairs = []
        for pool in self.d.of_role(RUNNERS):
            raw = next(e["value"] for e in pool.spec["envs"] if e["key"] == "N8N_RUNNERS_TASK_BROKER_URI")
            pairs.append((raw.split("//", 1)[1].split(":", 1)[0], pool.component))
        return pairs

    def registered_runners(self) -> dict[str, list[str]]:
        return {b.name: list(dict.fromkeys(REGISTERED.findall(self._log(b.name)))) for b in self.brokers()}

    def worker_of(self, execution_id: str) -> str | None:
        for worker in self.d.of_role(WORKER):
            if execution_id in STARTED.findall(self._log(worker.name)):
                return worker.component
        return None


@dataclass
class Running:
    """A started topology: what the checks (and `--serve`) need."""

    settings: Settings
    deployment: LocalDeployment
    target: scenarios.Target
    api_key: str
    owner_password: str
    pgbouncer: PgBouncer | None = None  # the connection pool n8n connects through, when the stack has one
    postgres: Postgres | None = None  # the local clusters, for the fault drills
    redis: Redis | None = None


def pool_label(settings: Settings) -> str:
    pool = settings.postgres.connection_pool
    return "" if pool is None else (f", through PgBouncer pool {DB_POOL} ({pool.mode}, "
                                    f"{stack_pool_size(settings)} server connections)")


def title_of(opts: Options, settings: Settings) -> str:
    return (f"Rehearsal of stack {opts.stack} (n8n {settings.n8n.version}, {settings.workers.pairs} worker pair(s), "
            f"offloadManualExecutions {str(settings.n8n.offload_manual_executions).lower()}" + pool_label(settings)
            + (", NEGATIVE CONTROL" if opts.negative_control else "")
            + (", WITHOUT the pre-deploy job" if opts.skip_db_grants else "") + ")")


@contextmanager
def signals_ignored() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def running(opts: Options, report: scenarios.Report, log=print) -> Iterator[Running]:
    """Start the stack's topology (recording timings and the pre-deploy job's result in `report`),
    yield it, and stop every process on the way out. Raises RehearsalError when it cannot start."""
    settings = stack_settings(opts.stack, opts.offload, opts.pool)
    spec = offline_spec(settings)
    t = time.monotonic()
    install = ensure_n8n(settings.n8n.version, log=log)
    report.timings["n8n install (0 when cached)"] = round(time.monotonic() - t, 1)

    run_dir = Path(tempfile.mkdtemp(prefix=f"n8n-rehearsal-{settings.stack}-"))  # not org/project/stack
    run_dir.chmod(0o711)  # PostgreSQL runs as its own user and must reach its directory
    log(f"run directory: {run_dir}")
    postgres = redis = pgbouncer = deployment = None
    try:
        t = time.monotonic()
        pki = make_pki(run_dir / "pki")
        pg_port, redis_port, pool_port = free_ports(3)
        postgres = start_postgres(run_dir / "postgres", pki, pg_port)
        redis = start_redis(run_dir / "redis", pki, redis_port)
        pool, pool_size = settings.postgres.connection_pool, stack_pool_size(settings)
        if pool is not None and pool_size is not None:
            pgbouncer = start_pgbouncer(run_dir / "pgbouncer", pki, postgres, pool_port, pool.mode, pool_size)
        servers = "PostgreSQL + Redis" + (" + PgBouncer" if pgbouncer else "")
        report.timings[f"{servers} (TLS) up"] = round(time.monotonic() - t, 1)
        log(f"PostgreSQL on {pg_port}, Redis on {redis_port}"
            + (f", PgBouncer on {pool_port}" if pgbouncer else "") + " (TLS, throwaway CA)")

        subs = substitutions_for(postgres, redis, pki, pgbouncer)
        subs.secrets.update(opts.secrets)
        deployment = LocalDeployment(run_dir, install, pki, plan_instances(spec, subs), routes(spec))
        broken = deployment.of_role(RUNNERS)[-1].component if opts.negative_control else None
        if broken:
            for runner_pool in deployment.of_role(RUNNERS):
                if runner_pool.component == broken:
                    runner_pool.spec_env["N8N_RUNNERS_AUTH_TOKEN"] = strong_secret()
            report.notes.append(f"negative control: {broken} was given a wrong runner auth token")

        for job in deployment.of_role(JOB):
            if opts.skip_db_grants:
                report.notes.append(f"pre-deploy job {job.component} deliberately not run")
                continue
            code, output = deployment.run_job(job)
            report.checks.append(scenarios.Check(f"pre-deploy job {job.component}", code == 0,
                                                 f"exit {code}: {' '.join(output.split())[:300] or 'no output'}"))
            if code != 0:
                raise RehearsalError(f"the pre-deploy job {job.component} failed; App Platform would stop the deploy")
        if opts.restore is not None:
            opts.restore(postgres, pki)

        t = time.monotonic()
        log("starting main ...")
        mains = deployment.of_role(MAIN_ROLE)
        for inst in mains:
            deployment.start(inst)
        deployment.wait_healthy(mains, timeout=300)
        deployment.wait_healthy(mains, timeout=300, path="/healthz/readiness")
        report.timings["main healthy (migrations)"] = round(time.monotonic() - t, 1)
        log("starting workers, webhook processors and runner pools ...")
        rest = deployment.of_role(WORKER, WEBHOOK, RUNNERS)
        for inst in rest:
            deployment.start(inst)
        deployment.wait_healthy(rest, timeout=240)
        observer = LocalObserver(deployment)
        wait_registered(observer, skip={broken} if broken else set())
        report.timings["whole topology up"] = round(time.monotonic() - t, 1)
        log(f"topology up: {', '.join(p for p, proc in deployment.processes.items() if proc.alive())}")

        main_url = subs.app_url
        assert main_url is not None, "plan_instances sets it from the ingress"
        editor = EditorSession(main_url)
        if opts.login is None:
            password = "Rehearsal-" + strong_secret()
            setup_owner(editor, password)
            api_key = editor.create_api_key("n8n-platform rehearsal")
        else:
            password, api_key = opts.login
            editor.login(OWNER_EMAIL, password)
        webhook_url = deployment.base_url_for("/webhook/")
        assert webhook_url is not None, "a spec routes /webhook/ to a component"
        target = scenarios.Target(main_url, PublicApi(main_url, api_key), webhook_url.rstrip("/"), editor, observer,
                                  settings.n8n.offload_manual_executions)
        yield Running(settings, deployment, target, api_key, password, pgbouncer, postgres, redis)
    finally:
        t = time.monotonic()
        with signals_ignored():  # a second Ctrl-C must not leave servers running
            if deployment is not None:
                deployment.stop()
            if redis is not None:
                redis.stop()
            if pgbouncer is not None:
                pgbouncer.stop()
            if postgres is not None:
                postgres.stop()
        report.timings["stop"] = round(time.monotonic() - t, 1)
        (run_dir / "report.json").write_text(json.dumps(report.as_dict(), indent=2) + "\n")
        if opts.keep_run_dir:
            report.notes.append(f"logs kept in {run_dir}")
        else:
            shutil.rmtree(run_dir, ignore_errors=True)


def rehearse(opts: Options, log=print) -> scenarios.Report:
    """The whole rehearsal: start, run the checklist, stop; the report says what passed."""
    started = time.monotonic()
    report = scenarios.Report(title_of(opts, stack_settings(opts.stack, opts.offload, opts.pool)))
    try:
        with running(opts, report, log) as run:
            check_all(run, opts, report)
    except (RehearsalError, ApiError, ServiceError) as err:
        report.checks.append(scenarios.Check("topology starts", False, str(err)))
    report.timings["total"] = round(time.monotonic() - started, 1)
    return report


def check_all(run: Running, opts: Options, report: scenarios.Report) -> None:
    target = run.target
    t = time.monotonic()
    report.checks += scenarios.guarded("health", scenarios.check_health, target)
    report.checks += scenarios.guarded("webhook across worker pairs", scenarios.check_webhook_pairs, target)
    report.timings["webhook checks"] = round(time.monotonic() - t, 1)
    if opts.negative_control:
        return  # what it must show is above: the broken pair fails, the others keep working
    report.checks += scenarios.guarded("manual execution", scenarios.check_manual, target)
    report.checks += scenarios.guarded("schedule-triggered Code node", scenarios.check_schedule, target)
    use = PoolUse()
    if opts.load_requests:
        slots = run.settings.workers.pairs * run.settings.workers.concurrency
        t = time.monotonic()
        with PoolWatch(run.pgbouncer, use) if run.pgbouncer else nullcontext():
            report.load = scenarios.run_load(target, opts.load_requests, opts.load_concurrency, opts.load_timeout,
                                             slots)
        report.timings["load run"] = round(time.monotonic() - t, 1)
        report.checks.append(scenarios.load_check(report.load))
    if run.pgbouncer:
        report.checks += scenarios.guarded("connection pool", pool_through_pgbouncer, run, use, report)
    left = [w["name"] for w in target.api.workflows() if w["name"].startswith(scenarios.TEMP_PREFIX)]
    report.checks.append(scenarios.Check("no temporary workflow left behind", not left,
                                         f"{len(left)} left: {left}" if left else "all deleted"))


def pool_through_pgbouncer(run: Running, use: PoolUse, report: scenarios.Report) -> scenarios.Check:
    pool, pool_size = run.settings.postgres.connection_pool, stack_pool_size(run.settings)
    assert run.pgbouncer is not None and pool is not None and pool_size is not None, "run only with a pool"
    observe(run.pgbouncer, use)
    report.pool = use.as_dict()
    return pool_check(use, pool.mode, pool_size)


def setup_owner(editor: EditorSession, password: str, timeout: float = 120) -> None:
    """n8n's own owner setup, as the first visit to the editor does. main answers its health checks
    while it still registers its REST routes, so a 404 here means "not yet"."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return editor.setup_owner(OWNER_EMAIL, password)
        except ApiError as err:
            if err.status != 404 or time.monotonic() > deadline:
                raise
            time.sleep(1)


def wait_registered(observer: LocalObserver, skip: set[str], timeout: float = 60) -> None:
    """Until each runner pool's runner has registered with its own broker (or the timeout: the health
    check then reports the pool that did not)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        registered = observer.registered_runners()
        if all(any(r.startswith(f"{pool}-") for r in registered.get(broker, []))
               for broker, pool in observer.pairs() if pool not in skip):
            return
        time.sleep(0.5)
