"""The observability proof: Debian's Prometheus scrapes every n8n process of a rehearsal with the stack's
rendered scrape configuration and evaluates its rendered alert rules, while drills take parts away.

    flock /tmp/n8n-heavy.lock venv/bin/python -m rehearsal.observability prod [--drill route,steady,runners,...]

Prometheus plays the in-app collector (which only scrapes and ships) together with the remote that
evaluates the rules. The rules are the stack's own (builders/observability.py `alert_rules`): every
threshold as the stack renders it; only the `for:`/window durations are divided by TIME_SCALE so a drill
takes minutes, not an hour (docs/observability.md says so, next to the production values).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from builders.observability import (
    NO_RUNNER_WINDOW,
    ScrapeTarget,
    alert_rules,
    alert_timing,
    scrape_configs,
    scrape_targets,
)
from platform_model import catalog
from platform_model.ingress import route_for
from platform_model.topology import runner_pool_for

from . import scenarios
from .deployment import WORKER, LocalDeployment, http_ok
from .pki import LOOPBACK_IP
from .rehearse import Options, Running, running
from .services import free_ports, stop_process

TIME_SCALE = 0.1  # production `for:` windows × 0.1: backlog 300 s -> 30 s, stuck 600 s -> 60 s
SCRAPE_SECONDS = 5  # the drills' scrape and evaluation interval (the stack renders 30 s)
DRILLS = ("route", "steady", "backlog", "runners", "stuck", "postgres")
# A dead pool can take the rule's whole 120 s window to show: 2-3 minutes more than the CI run affords.
DEFAULT_DRILLS = tuple(d for d in DRILLS if d != "runners")


# --- Prometheus ----------------------------------------------------------------------------------


@dataclass
class Prometheus:
    process: subprocess.Popen
    url: str
    directory: Path

    def _get(self, path: str, **params) -> dict:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=10) as resp:
            return json.load(resp)["data"]

    def alerts(self) -> dict[str, str]:
        """alertname -> state (pending or firing) of every active alert."""
        found: dict[str, str] = {}
        for a in self._get("/api/v1/alerts")["alerts"]:
            name = a["labels"]["alertname"]
            found[name] = "firing" if "firing" in (a["state"], found.get(name)) else a["state"]
        return found

    def firing_components(self, alert: str) -> list[str]:
        return sorted(a["labels"].get("component", "?") for a in self._get("/api/v1/alerts")["alerts"]
                      if a["labels"]["alertname"] == alert and a["state"] == "firing")

    def value(self, expr: str) -> float | None:
        result = self._get("/api/v1/query", query=expr)["result"]
        return float(result[0]["value"][1]) if result else None

    def targets_up(self) -> dict[str, bool]:
        return {t["labels"]["component"]: t["health"] == "up" for t in self._get("/api/v1/targets")["activeTargets"]}

    def stop(self) -> None:
        stop_process(self.process)


def local_address(deployment: LocalDeployment) -> Callable[[ScrapeTarget], str]:
    """Where a target's `<component>:<port>` listens in the rehearsal (the component's first instance)."""
    def address(t: ScrapeTarget) -> str:
        inst = next(i for i in deployment.instances if i.component == t.component)
        return f"{LOOPBACK_IP}:{inst.ports[t.port]}"
    return address


def prometheus_files(run: Running, directory: Path) -> Path:
    s = run.settings
    rules = directory / "rules.yml"
    rules.write_text(yaml.safe_dump(alert_rules(s, alert_timing(s).scaled(TIME_SCALE))))
    config = directory / "prometheus.yml"
    config.write_text(yaml.safe_dump({
        "global": {"scrape_interval": f"{SCRAPE_SECONDS}s", "evaluation_interval": f"{SCRAPE_SECONDS}s"},
        "rule_files": [str(rules)],
        "scrape_configs": scrape_configs(scrape_targets(s), SCRAPE_SECONDS, local_address(run.deployment)),
    }))
    return config


@contextmanager
def prometheus(run: Running, directory: Path) -> Iterator[Prometheus]:
    binary = shutil.which("prometheus")
    if binary is None:
        raise RuntimeError("prometheus is not on PATH: install Debian's `prometheus` package")
    directory.mkdir(parents=True, exist_ok=True)
    config = prometheus_files(run, directory)
    port = free_ports(1)[0]
    with open(directory / "prometheus.log", "ab") as log:
        proc = subprocess.Popen([binary, f"--config.file={config}", f"--storage.tsdb.path={directory / 'data'}",
                                 f"--web.listen-address={LOOPBACK_IP}:{port}"], stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    prom = Prometheus(proc, f"http://{LOOPBACK_IP}:{port}", directory)
    try:
        deadline = time.monotonic() + 60
        while not http_ok(f"{prom.url}/-/ready"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"prometheus did not start: {(directory / 'prometheus.log').read_text()[-800:]}")
            time.sleep(0.5)
        yield prom
    finally:
        prom.stop()


# --- the public route ----------------------------------------------------------------------------


def public_get(deployment: LocalDeployment, path: str) -> tuple[int, str]:
    """GET `path` on the app's public URL, as App Platform's edge would answer it
    (policies/platform_model/ingress.py)."""
    route = route_for(deployment.ingress, path)
    if route is None:
        return 404, ""
    if route.public_component is None:
        assert route.redirect is not None, "a rule forwards to a component or redirects"
        return int(route.redirect.get("redirect_code", 302)), f"redirect to {route.redirect.get('uri')}"
    base = deployment.base_url_for(path)
    assert base is not None, "a rule without a redirect forwards to a component"
    return _get(base + path)


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as err:
        return err.code, ""


def serves_metrics(body: str) -> bool:
    return "n8n_version_info" in body


def case_variant_note(run: Running) -> str:
    """What a prefix rule cannot cover if App Platform matches case-sensitively (undocumented): n8n's router
    matches paths case-insensitively. Reported, not judged: docs/observability.md has the first-deploy check."""
    status, body = public_get(run.deployment, "/METRICS")
    return (f"public GET /METRICS under a case-sensitive edge: HTTP {status}, "
            f"n8n metrics {'served' if serves_metrics(body) else 'not served'}")


def check_route(run: Running, prom: Prometheus) -> list[scenarios.Check]:
    checks = []
    for path in ("/metrics", "/metrics/", "/metrics?x=1"):
        status, body = public_get(run.deployment, path)
        checks.append(scenarios.Check(f"public GET {path} returns no metrics", not serves_metrics(body),
                                      f"HTTP {status}: {body[:60] or 'empty'}"))
    up = wait_for(lambda: (lambda t: t if t and all(t.values()) else None)(prom.targets_up()), 60)
    checks.append(scenarios.Check("the collector's scrape reaches every n8n process inside the app", bool(up),
                                  f"targets up: {up or prom.targets_up()}"))
    return checks


# --- drills ------------------------------------------------------------------------------------


def wait_for(probe: Callable[[], object], timeout: float, every: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(every)
    return None


@dataclass
class Watch:
    """Every alert state Prometheus reported while a drill ran."""

    prom: Prometheus
    seen: dict[str, set[str]] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.wait(1):
            for name, state in self.prom.alerts().items():
                self.seen.setdefault(name, set()).add(state)


@contextmanager
def watching(prom: Prometheus) -> Iterator[Watch]:
    watch = Watch(prom)
    thread = threading.Thread(target=watch.run, daemon=True)
    thread.start()
    try:
        yield watch
    finally:
        watch.stop.set()
        thread.join(5)


@contextmanager
def webhook(run: Running) -> Iterator[str]:
    with scenarios.temporary_workflows(run.target.api) as temps:
        path = f"n8n-platform-obs-{uuid.uuid4().hex[:10]}"
        temps.create(scenarios.webhook_workflow(path), activate=True)
        url = f"{run.target.webhook_url}/webhook/{path}"
        scenarios.first_call(url, 30)
        yield url


def keep_calling(url: str, stop: threading.Event, every: float, timeout: float) -> list[threading.Thread]:
    """Webhook calls in the background, one every `every` seconds, until `stop`."""
    threads = []

    def loop():
        while not stop.wait(every):
            t = threading.Thread(target=scenarios.call_webhook, args=(url, timeout), daemon=True)
            t.start()
            threads.append(t)

    threading.Thread(target=loop, daemon=True).start()
    return threads


def time_to(prom: Prometheus, alert: str, state: str, timeout: float) -> float | None:
    started = time.monotonic()
    found = wait_for(lambda: prom.alerts().get(alert) == state or (state == "resolved" and alert not in prom.alerts()),
                     timeout)
    return round(time.monotonic() - started, 1) if found else None


def steady(run: Running, prom: Prometheus, requests: int = 200) -> list[scenarios.Check]:
    """Load at the rehearsal's usual concurrency for a while: nothing may even go pending."""
    wait_for(lambda: prom.value("n8n_scaling_mode_queue_jobs_waiting") is not None, 60)
    with watching(prom) as watch:
        load = scenarios.run_load(run.target, requests, 8, 30,
                                  run.settings.workers.pairs * run.settings.workers.concurrency)
        time.sleep(alert_timing(run.settings).scaled(TIME_SCALE).backlog + 2 * SCRAPE_SECONDS)
    fired = sorted(name for name, states in watch.seen.items() if "firing" in states)
    return [scenarios.load_check(load),
            scenarios.Check("steady state under load: no alert fires", not fired,
                            f"{load.succeeded}/{load.requests} webhook calls answered; fired: {fired or 'none'}; "
                            f"pending at some point: {sorted(watch.seen) or 'none'}")]


def backlog(run: Running, prom: Prometheus) -> list[scenarios.Check]:
    """Workers stopped while webhooks keep arriving: the backlog alert fires, then resolves once they are back."""
    s, d = run.settings, run.deployment
    timing = alert_timing(s).scaled(TIME_SCALE)
    slots = s.workers.pairs * s.workers.concurrency
    bound = timing.backlog + catalog.QUEUE_METRICS_INTERVAL_SECONDS + 3 * SCRAPE_SECONDS
    workers = d.of_role(WORKER)
    with webhook(run) as url:
        d.stop_instances(workers, grace=60)
        stop = threading.Event()
        for _ in range(slots + 10):
            threading.Thread(target=scenarios.call_webhook, args=(url, 240), daemon=True).start()
        keep_calling(url, stop, 1.0, 240)
        fired = time_to(prom, "N8nQueueBacklog", "firing", bound + 60)
        stop.set()
        for w in workers:
            d.start(w)
        d.wait_healthy(workers, timeout=180)
        resolved = time_to(prom, "N8nQueueBacklog", "resolved", 240)
        also = prom.alerts()
    return [scenarios.Check(f"workers stopped: N8nQueueBacklog (> {slots} waiting) fires within its window",
                            fired is not None and fired <= bound,
                            f"fired {fired} s after the last worker stopped (for: {timing.backlog} s; bound {bound} s "
                            f"= for + {catalog.QUEUE_METRICS_INTERVAL_SECONDS} s queue poll + 3 scrapes)"),
            scenarios.Check("workers back: N8nQueueBacklog resolves", resolved is not None,
                            f"resolved {resolved} s after the workers were healthy again; "
                            f"still active: {also or 'none'}")]


RUNNER_ALERT = "N8nRunnerTasksUnanswered"


def runner_pool_down(run: Running, prom: Prometheus) -> list[scenarios.Check]:
    """One pair's runner pool stopped while Code-node webhooks keep arriving: that worker's Code nodes start and no
    runner accepts their tasks, so the runner alert fires for that worker alone; it resolves once the pool is back."""
    d = run.deployment
    worker = d.of_role(WORKER)[0]
    pool = [i for i in d.instances if i.component == runner_pool_for(worker.component)]
    hold = alert_timing(run.settings).scaled(TIME_SCALE).down
    bound = NO_RUNNER_WINDOW + hold + 3 * SCRAPE_SECONDS  # the pool may have accepted a task just before it stopped
    with webhook(run) as url:
        d.stop_instances(pool, grace=60)
        stop = threading.Event()
        keep_calling(url, stop, 1.0, scenarios.WEBHOOK_TIMEOUT_SECONDS)
        fired = time_to(prom, RUNNER_ALERT, "firing", bound + 60)
        components = prom.firing_components(RUNNER_ALERT)
        for inst in pool:
            d.start(inst)
        d.wait_healthy(pool, timeout=120)
        resolved = time_to(prom, RUNNER_ALERT, "resolved", 120)
        stop.set()
    return [scenarios.Check(f"runner pool stopped: {RUNNER_ALERT} fires for its worker within its window",
                            fired is not None and fired <= bound and components == [worker.component],
                            f"fired {fired} s after {', '.join(i.name for i in pool)} stopped, for {components} "
                            f"(for: {hold} s; bound {bound} s = {NO_RUNNER_WINDOW} s window + for + 3 scrapes)"),
            scenarios.Check(f"runner pool back: {RUNNER_ALERT} resolves", resolved is not None,
                            f"resolved {resolved} s after the pool was healthy again")]


def postgres_down(run: Running, prom: Prometheus) -> list[scenarios.Check]:
    """PostgreSQL stopped under a trickle of webhooks. Every n8n process's /metrics then waits on a database-backed
    gauge past the scrape timeout (seen in the first proof runs), so the outage shows as N8nMainDown."""
    postgres = run.postgres
    assert postgres is not None, "the rehearsal always runs its own PostgreSQL"
    timing = alert_timing(run.settings).scaled(TIME_SCALE)
    bound = timing.down + 3 * SCRAPE_SECONDS + 10  # + the scrape timeout of the first failed scrape
    with webhook(run) as url:
        stop = threading.Event()
        keep_calling(url, stop, 0.5, 120)
        time.sleep(5)
        postgres.stop()
        fired = time_to(prom, "N8nMainDown", "firing", bound + 60)
        others = prom.alerts()
        stop.set()
        postgres.start()
        resolved = time_to(prom, "N8nMainDown", "resolved", 180)
    return [scenarios.Check("PostgreSQL down: N8nMainDown fires", fired is not None and fired <= bound,
                            f"fired {fired} s after PostgreSQL stopped (for: {timing.down} s; bound {bound} s); "
                            f"active then: {others}"),
            scenarios.Check("PostgreSQL back: N8nMainDown resolves", resolved is not None,
                            f"resolved {resolved} s after PostgreSQL started again")]


def hung_workflow(path: str, seconds: int) -> dict:
    """A webhook whose Code node waits `seconds`: executions that stay running, as a hung node makes them."""
    hook = scenarios._node("Webhook", "n8n-nodes-base.webhook", 2, 0,
                           {"httpMethod": "POST", "path": path, "responseMode": "lastNode", "options": {}},
                           webhookId=str(uuid.uuid4()))
    code = scenarios._node("Code", "n8n-nodes-base.code", 2, 1, {
        "jsCode": (f"await new Promise(r => setTimeout(r, {seconds * 1000})); "
                   f"return [{{ json: {{ waited: {seconds} }} }}];")})
    return {"name": f"{scenarios.TEMP_PREFIX} hung {uuid.uuid4().hex[:8]}", "nodes": [hook, code],
            "connections": {"Webhook": {"main": [[{"node": "Code", "type": "main", "index": 0}]]}},
            "settings": {"executionOrder": "v1"}}


def stuck(run: Running, prom: Prometheus) -> list[scenarios.Check]:
    """Executions that hang (a Code node waiting far longer than the stuck window): N8nExecutionsStuck fires."""
    timing = alert_timing(run.settings).scaled(TIME_SCALE)
    bound = timing.stuck + catalog.QUEUE_METRICS_INTERVAL_SECONDS + 3 * SCRAPE_SECONDS
    hang = 2 * bound
    with scenarios.temporary_workflows(run.target.api) as temps:
        path = f"n8n-platform-hung-{uuid.uuid4().hex[:10]}"
        temps.create(hung_workflow(path, hang), activate=True)
        time.sleep(2)  # activation is asynchronous
        for _ in range(3):
            threading.Thread(target=scenarios.call_webhook, args=(f"{run.target.webhook_url}/webhook/{path}",
                                                                   hang + 60), daemon=True).start()
        fired = time_to(prom, "N8nExecutionsStuck", "firing", hang)
        resolved = time_to(prom, "N8nExecutionsStuck", "resolved", hang + 60)
    return [scenarios.Check("hung executions: N8nExecutionsStuck fires within its window",
                            fired is not None and fired <= bound,
                            f"fired {fired} s after 3 executions started hanging (window {timing.stuck} s; "
                            f"bound {bound} s = window + queue poll + 3 scrapes)"),
            scenarios.Check("hung executions finished: N8nExecutionsStuck resolves", resolved is not None,
                            f"resolved {resolved} s after it fired (the Code nodes wait {hang} s)")]


def run_drills(opts: Options, drills: tuple[str, ...], log=print) -> scenarios.Report:
    report = scenarios.Report(f"Observability proof of stack {opts.stack} (Prometheus with the rendered rules, "
                              f"windows × {TIME_SCALE})")
    started = time.monotonic()
    steps = {"route": check_route, "steady": steady, "backlog": backlog, "runners": runner_pool_down, "stuck": stuck,
             "postgres": postgres_down}
    try:
        with running(opts, report, log) as run, prometheus(run, run.deployment.run_dir / "prometheus") as prom:
            for name in drills:
                log(f"drill: {name} ...")
                t = time.monotonic()
                report.checks += scenarios.guarded(name, steps[name], run, prom)
                report.timings[f"drill {name}"] = round(time.monotonic() - t, 1)
            if "route" in drills:
                report.notes.append(case_variant_note(run))
    except Exception as err:
        report.checks.append(scenarios.Check("observability proof runs", False, f"{type(err).__name__}: {err}"))
    report.timings["total"] = round(time.monotonic() - started, 1)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rehearsal.observability", description=__doc__.split("\n\n")[0])
    parser.add_argument("stack")
    parser.add_argument("--drill", default=",".join(DEFAULT_DRILLS),
                        help=f"comma-separated, from {', '.join(DRILLS)} (default: all but runners)")
    parser.add_argument("--json", help="also write the report as JSON to this file")
    parser.add_argument("--keep", action="store_true", help="keep the run directory (logs, Prometheus data)")
    args = parser.parse_args(argv)
    drills = tuple(d for d in args.drill.split(",") if d)
    unknown = [d for d in drills if d not in DRILLS]
    if unknown:
        parser.error(f"unknown drill(s) {', '.join(unknown)}; choose from {', '.join(DRILLS)}")
    report = run_drills(Options(args.stack, load_requests=0, keep_run_dir=args.keep), drills,
                        log=lambda m: print(m, file=sys.stderr))
    return report.emit(args.json)


if __name__ == "__main__":
    raise SystemExit(main())
