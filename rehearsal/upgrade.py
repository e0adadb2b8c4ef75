"""The upgrade rehearsal (`python -m rehearsal <stack> --upgrade-from <version>`): the stack's topology on
an older n8n release, real data in it, then the version change as App Platform deploys it, the
downgrade that must be refused, and the way back.

  1. old release: the spec rendered with n8n.version = <version>; pre-deploy job, main, the rest;
     seed workflows with Code nodes, a credential, an active schedule and webhook, and executions.
  2. restore point: the database's time and a pg_dump of it. The dump stands in for DigitalOcean's
     point-in-time restore, which forks the cluster as it was at that time (nothing local can do that).
  3. upgrade, in App Platform's order: the new spec's PRE_DEPLOY job, then every component rolls at
     once — a new instance starts next to the old one, and the old one is stopped once the new one
     passes the component's health check (the spec's own path; for main, the router moves `/` to it
     then). Which new process migrates is whichever takes n8n's advisory lock first; the old main
     keeps serving on the migrated schema until it is replaced. Meanwhile a caller hits the Code-node
     webhook through the router every half second and the schedule keeps firing; both are counted.
  4. checks on the new release: migrations, workflows, the credential, history, schedule, webhook.
  5. downgrade (negative control): the old spec's pre-deploy job must fail and leave the database as it
     was — no migration, no version record, no grant, no setting changed.
  6. the way back: the restore point restored into a new cluster (a second local PostgreSQL, a fresh
     Redis, as a new stack gets) with the old release pinned; the same checks, and history as it was
     at the restore point.
"""

from __future__ import annotations

import hashlib
import itertools
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from offline.render import DB_ADMIN_PASSWORD, offline_spec
from platform_model.ingress import routes
from platform_model.roles import MAIN, RUNNERS, WEBHOOK, WORKER
from platform_model.topology import DB_NAME
from platform_model.upgrade import VERSION_TABLE, release
from settings.model import Settings

from . import scenarios
from . import seed as seeding
from .deployment import JOB, LocalDeployment, RehearsalError, Substitutions, http_ok, plan_instances, substitutions_for
from .install import N8nInstall, ensure_n8n
from .n8n_api import EditorSession, PublicApi
from .pki import Pki, make_pki
from .rehearse import OWNER_EMAIL, LocalObserver, setup_owner, stack_settings, wait_registered
from .scenarios import Check
from .services import Postgres, as_postgres_user, free_ports, postgres_bin, start_postgres, start_redis, strong_secret

STARTED_MIGRATION = "Starting migration "
FINISHED_MIGRATION = "Finished migration "
TRAFFIC_INTERVAL_SECONDS = 0.5
ROLL_TIMEOUT_SECONDS = 300


class UpgradeRefusedError(ValueError):
    """--upgrade-from cannot be rehearsed for this stack (exit 2, like bad settings)."""


@dataclass
class UpgradeOptions:
    stack: str
    from_version: str
    executions: int = 1000  # seeded history
    keep_run_dir: bool = False


# --- what App Platform's router and a user's callers do during the roll --------------------------


class Router:
    """Where App Platform sends `/` (and so main's webhooks): main's instance that passed its health check."""

    def __init__(self, url: str):
        self.url = url
        self.moved_at: float | None = None

    def move(self, url: str) -> None:
        self.url, self.moved_at = url, time.monotonic()


@dataclass
class Call:
    at: float
    ok: bool
    error: str


class Caller(threading.Thread):
    """A user's system calling the Code-node webhook through the router, every TRAFFIC_INTERVAL_SECONDS."""

    def __init__(self, router: Router, path: str):
        super().__init__(daemon=True)
        self.router, self.path = router, path
        self.calls: list[Call] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            started = time.monotonic()
            payload, error, _, _ = scenarios.call_webhook(f"{self.router.url}/webhook/{self.path}", 30)
            ok = error is None and payload is not None and payload.get("squares") == scenarios.CODE_RESULT
            self.calls.append(Call(started, ok, "" if ok else str(error or payload)[:200]))
            self.stopping.wait(max(0.0, TRAFFIC_INTERVAL_SECONDS - (time.monotonic() - started)))

    def stop(self) -> None:
        self.stopping.set()
        self.join(60)


class MigrationWatch(threading.Thread):
    """When migrations start and finish, and in which process, read from the new processes' logs every
    0.2 s (n8n logs "Starting migration X" and "Finished migration X" for each one)."""

    def __init__(self, deployment: LocalDeployment):
        super().__init__(daemon=True)
        self.d = deployment
        self.samples: list[tuple[float, int]] = []  # (when, migrations finished so far), once they started
        self.runners: set[str] = set()  # processes that logged a migration
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(0.2):
            finished = 0
            for name, proc in list(self.d.processes.items()):
                text = proc.log_text()
                if STARTED_MIGRATION in text:
                    self.runners.add(name)
                    finished += text.count(FINISHED_MIGRATION)
            if self.runners:
                self.samples.append((time.monotonic(), finished))

    @property
    def seconds(self) -> float | None:
        """From the first migration seen starting to the last one seen finishing."""
        if not self.samples or not self.samples[-1][1]:
            return None
        done = next(t for t, n in self.samples if n == self.samples[-1][1])
        return round(done - self.samples[0][0], 1)

    def stop(self) -> None:
        self.stopping.set()
        self.join(5)


# --- the database, seen from outside n8n ---------------------------------------------------------


def db_value(pg: Postgres, sql: str) -> str:
    return pg.superuser_sql(sql, DB_NAME)


def db_now(pg: Postgres) -> float:
    return float(db_value(pg, "SELECT extract(epoch FROM clock_timestamp())"))


def migration_names(pg: Postgres) -> list[str]:
    return db_value(pg, "SELECT name FROM migrations ORDER BY id").splitlines()


def recorded_versions(pg: Postgres) -> list[str]:
    if db_value(pg, f"SELECT to_regclass('{VERSION_TABLE}') IS NOT NULL") != "t":
        return []
    return db_value(pg, f"SELECT format('%s.%s.%s', major, minor, patch) FROM {VERSION_TABLE} ORDER BY id").splitlines()


def execution_count(pg: Postgres) -> int:
    return int(db_value(pg, "SELECT count(*) FROM execution_entity"))


def executions_between(pg: Postgres, start: float, end: float) -> int:
    return int(db_value(pg, f"SELECT count(*) FROM execution_entity WHERE \"startedAt\" > to_timestamp({start}) "
                            f"AND \"startedAt\" < to_timestamp({end})"))


def fingerprint(pg: Postgres) -> str:
    """What a refused pre-deploy job must not change: the schema, the migrations and version records,
    the database's grants and settings (executions keep arriving and are left out)."""
    parts = [
        "SELECT string_agg(table_name || '.' || column_name || ':' || data_type, ',' ORDER BY table_name, column_name) "
        "FROM information_schema.columns WHERE table_schema = 'public'",
        "SELECT string_agg(name, ',' ORDER BY id) FROM migrations",
        f"SELECT string_agg(format('%s.%s.%s', major, minor, patch), ',' ORDER BY id) FROM {VERSION_TABLE}",
        f"SELECT datacl::text FROM pg_database WHERE datname = '{DB_NAME}'",
        "SELECT nspacl::text FROM pg_namespace WHERE nspname = 'public'",
        "SELECT coalesce(string_agg(array_to_string(setconfig, ','), ';'), '') FROM pg_db_role_setting",
    ]
    return hashlib.sha256("\n".join(db_value(pg, q) for q in parts).encode()).hexdigest()


def schedule_starts(pg: Postgres, workflow_id: str, since: float) -> list[float]:
    rows = db_value(pg, f"SELECT extract(epoch FROM \"startedAt\") FROM execution_entity WHERE \"workflowId\" = "
                        f"'{workflow_id}' AND \"startedAt\" >= to_timestamp({since}) ORDER BY \"startedAt\"")
    return [float(r) for r in rows.splitlines() if r]


def dump(pg: Postgres, path: Path) -> None:
    _superuser_tool(pg, "pg_dump", "-Fc", "-f", str(path), DB_NAME)


def restore(pg: Postgres, path: Path) -> None:
    _superuser_tool(pg, "pg_restore", "--exit-on-error", "-d", DB_NAME, str(path))


def _superuser_tool(pg: Postgres, tool: str, *args: str) -> None:
    done = subprocess.run([*as_postgres_user(), postgres_bin(tool), "-h", str(pg.superuser_socket), "-p",
                           str(pg.port), "-U", "postgres", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RehearsalError(f"{tool} failed: {done.stderr.strip()[-500:]}")


# --- one release's topology ----------------------------------------------------------------------


def plan(run_dir: Path, install: N8nInstall, pki: Pki, spec: dict, subs: Substitutions) -> LocalDeployment:
    return LocalDeployment(run_dir, install, pki, plan_instances(spec, subs), routes(spec))


def run_jobs(d: LocalDeployment) -> list[tuple[str, int, str]]:
    return [(job.component, *d.run_job(job)) for job in d.of_role(JOB)]


def start_release(d: LocalDeployment, report: scenarios.Report, label: str) -> None:
    """The pre-deploy job, then main, then everything else, as a first deployment: raises when a step fails."""
    for name, code, output in run_jobs(d):
        report.checks.append(scenarios.Check(f"{label}: pre-deploy job {name}", code == 0,
                                             f"exit {code}: {' '.join(output.split())[:300] or 'no output'}"))
        if code != 0:
            raise RehearsalError(f"{label}: the pre-deploy job {name} failed")
    t = time.monotonic()
    mains = d.of_role(MAIN)
    for inst in mains:
        d.start(inst)
    d.wait_healthy(mains, timeout=300, path="/healthz/readiness")
    report.timings[f"{label}: main ready"] = round(time.monotonic() - t, 1)
    rest = d.of_role(WORKER, WEBHOOK, RUNNERS)
    for inst in rest:
        d.start(inst)
    d.wait_healthy(rest, timeout=240)
    wait_registered(LocalObserver(d), skip=set())


def main_url(d: LocalDeployment) -> str:
    return d.main.url(int(d.main.spec["http_port"]))


# --- the roll ------------------------------------------------------------------------------------


def roll(old: LocalDeployment, new: LocalDeployment, router: Router, log: Callable[[str], None]) -> dict[str, float]:
    """Every component's new instances start at once; each component's old instances get SIGTERM when
    all its new ones pass the spec's health check. Returns when each component was replaced (seconds
    after the roll began)."""
    began = time.monotonic()
    components = list(dict.fromkeys(i.component for i in new.instances if i.role != JOB))
    for inst in new.instances:
        if inst.role != JOB:
            new.start(inst)
    replaced: dict[str, float] = {}
    while len(replaced) < len(components):
        for component in components:
            if component not in replaced and _healthy(new, component):
                if component == new.main.component:
                    router.move(main_url(new))
                for _name, proc in old.processes.items():
                    if proc.instance.component == component:
                        proc.terminate()
                replaced[component] = round(time.monotonic() - began, 1)
                log(f"  {component}: new instance healthy after {replaced[component]} s; old instance stopping")
        if time.monotonic() - began > ROLL_TIMEOUT_SECONDS:
            late = sorted(set(components) - set(replaced))
            raise RehearsalError(f"the roll did not finish in {ROLL_TIMEOUT_SECONDS} s: "
                                 f"{', '.join(late)} never healthy")
        time.sleep(0.5)
    old.stop()  # waits for the old instances' graceful shutdown
    return replaced


def _healthy(d: LocalDeployment, component: str) -> bool:
    for inst in (i for i in d.instances if i.component == component):
        proc = d.processes[inst.name]
        if not proc.alive():
            raise RehearsalError(f"new {inst.name} exited with code {proc.popen.returncode} during the roll")
        url = d.health_url(inst)
        if url is not None and not http_ok(url, timeout=2):
            return False
    return True


# --- the checks ----------------------------------------------------------------------------------


def data_checks(api: PublicApi, webhook_base: str, seeded: seeding.Seeded, label: str) -> list[Check]:
    """The seeded workflows, credential and history, each as one check."""
    probes = (("Code-node workflow answers", seeding.code_webhook_works, webhook_base),
              ("credential still decrypts", seeding.credential_works, webhook_base),
              ("seeded executions read back", seeding.history_intact, api))
    checks = []
    for what, probe, arg in probes:
        name = f"{label}: {what}"
        checks += scenarios.guarded(name, lambda p=probe, a=arg, n=name: Check(n, *p(a, seeded)))
    return checks


def schedule_check(pg: Postgres, seeded: seeding.Seeded, since: float, settled: float, until: float,
                   label: str) -> Check:
    """Runs of the schedule from `since` to `until` (database time): it must run at its interval again
    once the deployment settled; the longest gap and the runs it missed before that are measured."""
    starts = [s for s in schedule_starts(pg, seeded.schedule_id, since) if s <= until]
    return schedule_verdict(starts, since, settled, until, label)


def schedule_verdict(starts: list[float], since: float, settled: float, until: float, label: str) -> Check:
    if len(starts) < 2:
        return Check(label, False, f"{len(starts)} scheduled run(s) in {until - since:.0f} s")
    every = seeding.SCHEDULE_SECONDS
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    settled_gaps = [b - a for a, b in itertools.pairwise(starts) if a >= settled]
    missed = sum(max(0, round(g / every) - 1) for g in gaps)
    doubled = sum(1 for g in gaps if g < every / 2)
    ok = bool(settled_gaps) and max(settled_gaps) <= 2 * every
    return Check(label, ok, f"{len(starts)} runs of the every-{every}-s schedule over {until - since:.0f} s; longest "
                            f"gap {max(gaps):.1f} s ({missed} run(s) missed, {doubled} doubled); at its interval again "
                            f"after the deployment settled: {'yes' if ok else 'NO'}")


def traffic_check(calls: list[Call], began: float, settled: float) -> Check:
    """Calls made while components were being replaced are measured; once the new main is ready, every
    call must succeed."""
    during = [c for c in calls if c.at < settled]
    after = [c for c in calls if c.at >= settled]
    failed = [c for c in during if not c.ok]
    window = (f" between {failed[0].at - began:.1f} s and {failed[-1].at - began:.1f} s into the roll"
              if failed else "")
    errors = sorted({c.error.split(":", 1)[0] for c in failed})[:3]  # "POST /webhook/... -> 404"
    detail = (f"{len(during)} calls until the new main was ready ({settled - began:.1f} s), "
              f"{len(failed)} failed{window}"
              + (f" ({'; '.join(errors)})" if errors else "")
              + f"; {sum(c.ok for c in after)} of {len(after)} after it succeeded")
    return Check("webhook through the router answers again once the new main is ready",
                 bool(after) and all(c.ok for c in after), detail)


def migration_check(before: list[str], after: list[str], watch: MigrationWatch, version: str) -> Check:
    ran = [m for m in after if m not in before]
    seconds = watch.seconds
    ok = after[:len(before)] == before and len(watch.runners) == 1 and seconds is not None
    who = ", ".join(sorted(watch.runners)) or "no process"
    return Check(f"migrations to {version} ran once", ok,
                 f"{len(ran)} migration(s) by {who}" + (f" in {seconds:.1f} s" if seconds is not None else "")
                 + (f": {', '.join(ran)}" if ran else ""))


# --- the whole rehearsal -------------------------------------------------------------------------


@dataclass
class Stage:
    """The servers and deployments of one run, stopped in reverse order on the way out."""

    run_dir: Path
    pki: Pki
    stops: ExitStack = field(default_factory=ExitStack)

    def postgres(self, name: str) -> Postgres:
        pg = start_postgres(self.run_dir / name, self.pki, free_ports(1)[0])
        self.stops.callback(pg.stop)
        return pg

    def servers(self, suffix: str = "") -> tuple[Postgres, Substitutions]:
        pg = self.postgres(f"postgres{suffix}")
        redis = start_redis(self.run_dir / f"redis{suffix}", self.pki, free_ports(1)[0])
        self.stops.callback(redis.stop)
        return pg, substitutions_for(pg, redis, self.pki)

    def deployment(self, name: str, install: N8nInstall, spec: dict, subs: Substitutions) -> LocalDeployment:
        d = plan(self.run_dir / name, install, self.pki, spec, subs)
        self.stops.callback(d.stop)
        return d


def upgrade_settings(opts: UpgradeOptions) -> tuple[Settings, Settings]:
    """(old, new): the stack's settings with n8n.version = --upgrade-from, and as written."""
    new = stack_settings(opts.stack, None)
    if new.postgres.connection_pool is not None:
        raise UpgradeRefusedError(f"stack {opts.stack} has postgres.connectionPool: the upgrade rehearsal runs without "
                             "PgBouncer; rehearse the stack's copy without the pool")
    try:
        older = release(opts.from_version) < release(new.n8n.version)
    except ValueError as err:
        raise UpgradeRefusedError(f"--upgrade-from: {err}") from None
    if not older:
        raise UpgradeRefusedError(f"--upgrade-from {opts.from_version} is not older than the stack's n8n.version "
                             f"{new.n8n.version}")
    return stack_settings(opts.stack, None, version=opts.from_version), new


def rehearse_upgrade(opts: UpgradeOptions, log: Callable[[str], None] = print) -> scenarios.Report:
    began = time.monotonic()
    old_s, new_s = upgrade_settings(opts)
    report = scenarios.Report(f"Upgrade rehearsal of stack {opts.stack}: "
                              f"n8n {opts.from_version} -> {new_s.n8n.version} "
                              f"({new_s.workers.pairs} worker pair(s))")
    t = time.monotonic()
    old_install, new_install = ensure_n8n(opts.from_version, log=log), ensure_n8n(new_s.n8n.version, log=log)
    report.timings["n8n installs (0 when cached)"] = round(time.monotonic() - t, 1)
    run_dir = Path(tempfile.mkdtemp(prefix=f"n8n-upgrade-{opts.stack}-"))
    run_dir.chmod(0o711)  # PostgreSQL runs as its own user and must reach its directory
    log(f"run directory: {run_dir}")
    try:
        stage = Stage(run_dir, make_pki(run_dir / "pki"))
        with stage.stops:  # every server and process started, stopped in reverse order
            _phases(stage, opts, old_s, new_s, old_install, new_install, report, log)
    except (RehearsalError, RuntimeError, TimeoutError) as err:
        report.checks.append(scenarios.Check("upgrade rehearsal runs to the end", False, str(err)))
    finally:
        if opts.keep_run_dir:
            report.notes.append(f"logs kept in {run_dir}")
        else:
            shutil.rmtree(run_dir, ignore_errors=True)
    report.timings["total"] = round(time.monotonic() - began, 1)
    return report


def _phases(stage: Stage, opts: UpgradeOptions, old_s: Settings, new_s: Settings, old_install: N8nInstall,
            new_install: N8nInstall, report: scenarios.Report, log: Callable[[str], None]) -> None:
    old_v, new_v = old_s.n8n.version, new_s.n8n.version
    old_spec, new_spec = offline_spec(old_s), offline_spec(new_s)
    pg, subs = stage.servers()

    log(f"1. n8n {old_v}: starting the stack's topology ...")
    old = stage.deployment(f"n8n-{old_v}", old_install, old_spec, subs)
    start_release(old, report, f"n8n {old_v}")
    editor, password = EditorSession(main_url(old)), "Rehearsal-" + strong_secret()
    setup_owner(editor, password)
    api_key = editor.create_api_key("n8n-platform upgrade rehearsal")
    t = time.monotonic()
    log(f"   seeding workflows, a credential and {opts.executions} executions ...")
    seeded = seeding.seed(PublicApi(main_url(old), api_key), main_url(old), strong_secret(), opts.executions)
    report.timings[f"seed {opts.executions} executions"] = round(time.monotonic() - t, 1)

    log("2. restore point: database time and a pg_dump (stands in for DigitalOcean's point-in-time restore)")
    restore_point = db_now(pg)
    executions_at_restore_point = execution_count(pg)
    dump_file = pg.directory / "restore-point.dump"
    dump(pg, dump_file)
    migrations_before = migration_names(pg)

    log(f"3. upgrade to n8n {new_v}: pre-deploy job, then every component rolls ...")
    router = Router(main_url(old))
    caller = Caller(router, seeded.code_path)
    caller.start()
    stage.stops.callback(caller.stop)
    new = stage.deployment(f"n8n-{new_v}", new_install, new_spec, subs)
    for name, code, output in run_jobs(new):
        report.checks.append(Check(f"n8n {new_v}: pre-deploy job {name} allows the upgrade", code == 0,
                                   f"exit {code}: {' '.join(output.split())[:300] or 'no output'}"))
        if code != 0:
            raise RehearsalError(f"the pre-deploy job {name} refused the upgrade")
    watch = MigrationWatch(new)
    watch.start()
    stage.stops.callback(watch.stop)
    roll_began, t = db_now(pg), time.monotonic()
    replaced = roll(old, new, router, log)
    roll_ended_at = time.monotonic()
    report.timings["roll (every component replaced)"] = round(roll_ended_at - t, 1)
    # Settled: the new main is ready (migrated, webhooks mounted), whatever its health check said earlier.
    new.wait_healthy([new.main], timeout=120, path="/healthz/readiness")
    settled_at, settled = time.monotonic(), db_now(pg)
    report.timings["until the new main was ready"] = round(settled_at - t, 1)
    report.notes.append("components replaced after (s): " + ", ".join(f"{c} {s}" for c, s in replaced.items()))
    check_url = new.health_url(new.main)
    assert check_url is not None, "main always has a health check"
    check_path = check_url.split('/', 3)[3]
    report.notes.append(f"the router moved to the new main when its health check {check_path} "
                        "answered (App Platform routes on the component's health check)")
    wait_registered(LocalObserver(new), skip=set())
    time.sleep(3 * seeding.SCHEDULE_SECONDS)  # let the schedule and the caller run on the new release alone
    caller.stop()
    watch.stop()
    roll_ended = db_now(pg)

    log("4. checks on the new release ...")
    api = PublicApi(main_url(new), api_key)
    report.checks.append(migration_check(migrations_before, migration_names(pg), watch, new_v))
    if watch.seconds is not None:
        report.timings["migrations"] = watch.seconds
    versions = recorded_versions(pg)
    report.checks.append(Check(f"main recorded n8n {new_v}", bool(versions) and versions[-1] == new_v,
                               f"{VERSION_TABLE}: {' -> '.join(versions) or 'empty'}"))
    report.checks += data_checks(api, main_url(new), seeded, f"n8n {new_v}")
    upgraded = execution_count(pg)
    report.checks.append(Check(f"n8n {new_v}: history intact", upgraded >= executions_at_restore_point,
                               f"{upgraded} executions (were {executions_at_restore_point} at the restore point)"))
    report.checks.append(schedule_check(pg, seeded, roll_began - 2 * seeding.SCHEDULE_SECONDS, settled, roll_ended,
                                        "schedule runs at its interval again after the upgrade"))
    report.checks.append(traffic_check(caller.calls, t, settled_at))

    log(f"5. downgrade to n8n {old_v} (negative control): its pre-deploy job must refuse ...")
    before = fingerprint(pg)
    downgrade = stage.deployment(f"downgrade-{old_v}", old_install, old_spec, subs)
    for name, code, output in run_jobs(downgrade):
        refused = code != 0 and "downgrade refused" in output
        untouched = fingerprint(pg) == before
        report.checks.append(Check(f"downgrade to {old_v} refused by {name} before n8n starts", refused and untouched,
                                   f"exit {code}, database {'untouched' if untouched else 'CHANGED'}: "
                                   f"{' '.join(output.split())[:300]}"))
    new.stop()

    log(f"6. the way back: restore point into a new cluster, n8n {old_v} pinned ...")
    t, way_back_began = time.monotonic(), db_now(pg)
    back_pg, back_subs = stage.servers("-restored")
    back_subs.secrets.update({k: v for k, v in subs.secrets.items() if k != DB_ADMIN_PASSWORD})
    restore(back_pg, dump_file)
    back = stage.deployment(f"way-back-{old_v}", old_install, old_spec, back_subs)
    start_release(back, report, f"way back to n8n {old_v}")
    report.timings["way back (restore + start)"] = round(time.monotonic() - t, 1)
    back_api = PublicApi(main_url(back), api_key)
    report.checks += data_checks(back_api, main_url(back), seeded, f"way back to {old_v}")
    count = execution_count(back_pg)
    since_restore_point = executions_between(back_pg, restore_point, way_back_began)
    ran_on_new = executions_between(pg, restore_point, way_back_began)
    report.checks.append(Check(f"way back to {old_v}: history as at the restore point",
                               since_restore_point == 0 and ran_on_new > 0 and count >= executions_at_restore_point,
                               f"{count} executions ({executions_at_restore_point} at the restore point); none of the "
                               f"{ran_on_new} that ran between the restore point and the way back"))
    resumed = db_now(back_pg)
    time.sleep(3 * seeding.SCHEDULE_SECONDS + 1)
    report.checks.append(schedule_check(back_pg, seeded, resumed, resumed, db_now(back_pg),
                                        f"way back to {old_v}: schedule fires"))
    report.checks += scenarios.guarded(f"way back to {old_v}: the owner logs in", owner_logs_in, main_url(back),
                                       password)


def owner_logs_in(url: str, password: str) -> Check:
    EditorSession(url).login(OWNER_EMAIL, password)
    return Check("the owner logs in", True, f"{OWNER_EMAIL} logged in to the editor")
