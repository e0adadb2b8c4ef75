"""A stack's rendered App spec, run on this machine: one real process per component instance.

The spec is `offline.render.offline_spec(settings)` — the data `pulumi up` sends. What the rehearsal
changes in it, and nothing else:
  * bindable variables (`${postgres.*}`, `${valkey.*}`, `${APP_URL}`) become the local servers' values,
    and, when the stack has a connection pool, `${postgres.<pool>.*}` the local PgBouncer's;
  * redacted secrets become strong local values, one per secret (so each broker's runner token is
    shared with its own pool only), the doadmin password the local cluster's;
  * ports: every component gets its own loopback ports for the spec's 5678/5679/5680, and
    `http://<component>:<port>` addresses point at them. A component with an `http_port` is told its
    port with `N8N_PORT` — the one variable this adds, because App Platform gives every container
    its own network where n8n's default port is the spec's `http_port`.
Any other `${...}` or placeholder stops the rehearsal: an unresolvable value is a bug in the spec.

Process plumbing, none of it n8n configuration: `PATH` (Node.js 24 first), `HOME` (a directory per
process, as every container has its own file system; n8n keeps `~/.n8n` there), the n8nio/n8n image's
own `ENV` (`NODE_ENV=production`, `N8N_RELEASE_TYPE=stable`), and `NODE_EXTRA_CA_CERTS` naming the
throwaway CA, which plays the image's trust store: n8n has no CA setting for Redis, so a Valkey
certificate must chain to a CA Node trusts. Nothing is inherited from the caller's environment.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from offline.render import DB_ADMIN_PASSWORD, REDACTED
from platform_model import catalog
from platform_model.ingress import Route, route_for, routes
from platform_model.roles import MAIN, NOT_N8N, RUNNERS, UNRECOGNISED, WEBHOOK, WORKER, recognise
from platform_model.spec_fields import ports
from platform_model.spec_reader import AppSpec
from platform_model.topology import COLLECTOR, DB_POOL, POSTGRES_BINDING, VALKEY_BINDING

from .install import N8nInstall
from .pgbouncer import PgBouncer
from .pki import LOOPBACK_IP, Pki
from .services import Postgres, Redis, free_ports, strong_secret

# `${APP_URL}`, `${<binding>.<VARIABLE>}`, `${<binding>.<pool>.<VARIABLE>}`: everything App Platform
# would bind is read as `${<scope>.<VARIABLE>}` or `${<VARIABLE>}`.
BINDABLE = re.compile(r"\$\{([^{}]+)\}")
SERVICE_URI = re.compile(r"http://([a-z0-9-]+):(\d+)")

# The n8nio/n8n image's ENV lines (docker/images/n8n/Dockerfile): every n8n container runs with them.
IMAGE_ENV = {"NODE_ENV": "production", "N8N_RELEASE_TYPE": "stable"}
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"


class RehearsalError(RuntimeError):
    pass


# --- which process each spec component is ------------------------------------------------------

JOB = "job"  # a job that runs no n8n: its own command, in a shell
BACKUP = "backup"  # the backup worker: only the restore drill runs its command (rehearsal/restore_drill.py)
# The metrics collector is not started as a process: the rehearsal's Prometheus scrapes with its rendered
# scrape configuration instead (rehearsal/observability.py).
METRICS_COLLECTOR = "metrics collector"


def role_of(kind: str, component: dict) -> tuple[str, tuple[str, ...]]:
    """(role, n8n's arguments), decided as the policy pack decides it (policies/platform_model/roles.py)."""
    if component["name"] == COLLECTOR:
        return METRICS_COLLECTOR, ()
    found = recognise(kind, component)
    if found.is_n8n_process or found.role == RUNNERS:
        return found.role, found.n8n_args
    if found.role == NOT_N8N and kind == "jobs":
        return JOB, ()
    if found.role == NOT_N8N and component["name"] == catalog.BACKUP_COMPONENT:
        return BACKUP, ()
    if found.role == UNRECOGNISED:
        raise RehearsalError(found.problem(f"component {component['name']}"))
    raise RehearsalError(f"component {component['name']} runs {found.role}, which the rehearsal does not run")


def spec_ports(component: dict) -> list[int]:
    """The ports the component listens on, each once."""
    return sorted({int(p) for p in ports(component) if p is not None})


@dataclass
class Instance:
    """One process of one spec component."""

    component: str
    role: str
    index: int  # 1-based instance number
    spec_env: dict[str, str]  # the component's env after substitution (what the container would get)
    ports: dict[int, int]  # spec port -> local port
    spec: dict = field(repr=False, default_factory=dict)
    n8n_args: tuple[str, ...] = ()  # what n8n is told to run (`worker`), read from the spec's command

    @property
    def name(self) -> str:
        return self.component if self.index == 1 else f"{self.component}#{self.index}"

    def url(self, spec_port: int) -> str:
        return f"http://{LOOPBACK_IP}:{self.ports[spec_port]}"


# --- substitutions ------------------------------------------------------------------------------


@dataclass
class Substitutions:
    bindings: dict[str, dict[str, str]]  # "postgres", "postgres.n8n-pool"... -> attribute -> value
    app_url: str | None = None  # set from the ingress when the ports are known
    secrets: dict[str, str] = field(default_factory=dict)  # redaction label -> local value

    def secret(self, label: str) -> str:
        if label not in self.secrets:
            self.secrets[label] = strong_secret()
        return self.secrets[label]

    def value(self, component: str, key: str, raw: str) -> str:
        redacted = REDACTED.match(raw)
        if redacted:
            return self.secret(redacted.group(1))

        def bind(m: re.Match) -> str:
            scope, _, attribute = m.group(1).rpartition(".")
            if m.group(1) == "APP_URL" and self.app_url is not None:
                return self.app_url
            try:
                return self.bindings[scope][attribute]
            except KeyError:
                raise RehearsalError(f"{component}: {key} uses {m.group(0)}, which App Platform would bind but "
                                     "the rehearsal cannot: a bug in the spec or in the rehearsal") from None

        value = BINDABLE.sub(bind, raw)
        if value.startswith("<") and value.endswith(">"):
            raise RehearsalError(f"{component}: {key} is a placeholder ({value}); the spec must not ship one")
        return value


def plan_instances(spec: dict, subs: Substitutions) -> list[Instance]:
    """Every process the spec asks for, with substituted env and remapped ports."""
    # Ports first: `http://<component>:<port>` in one component's env names another's ports. One request
    # for all of them, so no two instances are handed the same port.
    slots = [(c, i) for c in AppSpec(spec).components() for i in range(1, int(c.min_instances) + 1)]
    local = iter(free_ports(sum(len(spec_ports(c.data)) for c, _ in slots)))
    instances = []
    for c, i in slots:
        role, n8n_args = role_of(c.kind, c.data)
        instances.append(Instance(c.name, role, i, {}, {p: next(local) for p in spec_ports(c.data)}, c.data,
                                  n8n_args))
    first = {inst.component: inst for inst in reversed(instances)}  # the service name's address
    if subs.app_url is None:  # ${APP_URL}: where the ingress sends `/`
        root_route = route_for(routes(spec), "/")
        assert root_route is not None and root_route.component is not None, "a spec routes / to a component"
        root = root_route.component
        subs.app_url = first[root].url(int(first[root].spec["http_port"]))

    def remap_uri(m: re.Match) -> str:
        target, port = m.group(1), int(m.group(2))
        if target in first and port in first[target].ports:
            return f"http://{LOOPBACK_IP}:{first[target].ports[port]}"
        return m.group(0)

    for inst in instances:
        for entry in inst.spec.get("envs", []):
            key = entry["key"]
            value = subs.value(inst.component, key, str(entry.get("value", "")))
            if key.endswith("_PORT") and value.isdigit() and int(value) in inst.ports:
                value = str(inst.ports[int(value)])
            inst.spec_env[key] = SERVICE_URI.sub(remap_uri, value)
        if "http_port" in inst.spec:
            inst.spec_env["N8N_PORT"] = str(inst.ports[int(inst.spec["http_port"])])
    return instances


def substitutions_for(postgres: Postgres, redis: Redis, pki: Pki, pool: PgBouncer | None = None) -> Substitutions:
    """Only what the rehearsal runs can be bound: a pool only when the stack has one (and it is started)."""
    subs = Substitutions({POSTGRES_BINDING: postgres.bindings(pki), VALKEY_BINDING: redis.bindings()})
    if pool is not None:
        subs.bindings[f"{POSTGRES_BINDING}.{DB_POOL}"] = pool.bindings()
    subs.secrets[DB_ADMIN_PASSWORD] = postgres.admin_password
    return subs


# --- processes ----------------------------------------------------------------------------------


@dataclass
class Process:
    instance: Instance
    popen: subprocess.Popen
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def terminate(self) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)

    def kill(self) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)


def http_ok(url: str, timeout: float = 3) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


@dataclass
class LocalDeployment:
    """The running topology of one rehearsal."""

    run_dir: Path
    install: N8nInstall
    pki: Pki
    instances: list[Instance]
    ingress: list[Route]  # the spec's ingress rules
    processes: dict[str, Process] = field(default_factory=dict)

    # -- process environment (see the module docstring for why each plumbing variable is there) --

    def _home(self, inst: Instance) -> Path:
        home = self.run_dir / "components" / inst.name.replace("#", "-") / "home"
        home.mkdir(parents=True, exist_ok=True)
        return home

    def process_env(self, inst: Instance) -> dict[str, str]:
        plumbing = {"PATH": f"{self.install.bin_dir}{os.pathsep}{SYSTEM_PATH}", "HOME": str(self._home(inst))}
        if inst.role in (MAIN, WORKER, WEBHOOK):
            plumbing.update(IMAGE_ENV)
            plumbing["NODE_EXTRA_CA_CERTS"] = str(self.pki.ca_cert)
        return {**plumbing, **inst.spec_env}

    def command(self, inst: Instance) -> list[str]:
        if inst.role == RUNNERS:
            return [sys.executable, "-m", "rehearsal.launcher", "--node", str(self.install.node),
                    "--runner", str(self.install.task_runner), "--pool", inst.name.replace("#", "-")]
        if inst.role == JOB:
            return ["/bin/sh", "-c", inst.spec["run_command"]]
        return [str(self.install.node), str(self.install.n8n), *inst.n8n_args]

    def start(self, inst: Instance) -> Process:
        log = self._home(inst).parent / "output.log"
        cwd = Path(__file__).resolve().parent.parent if inst.role == RUNNERS else self._home(inst)
        with open(log, "ab") as out:
            popen = subprocess.Popen(self.command(inst), env=self.process_env(inst), cwd=cwd, stdout=out,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        proc = Process(inst, popen, log)
        self.processes[inst.name] = proc
        return proc

    def run_job(self, inst: Instance, timeout: float = 120) -> tuple[int, str]:
        proc = self.start(inst)
        try:
            code = proc.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = -1
        return code, proc.log_text()

    # -- lookups --

    def of_role(self, *roles: str) -> list[Instance]:
        return [i for i in self.instances if i.role in roles]

    @property
    def main(self) -> Instance:
        return self.of_role(MAIN)[0]

    def health_url(self, inst: Instance) -> str | None:
        check = inst.spec.get("health_check") or inst.spec.get("liveness_health_check")
        if not check:
            return None
        return inst.url(int(check["port"])) + check["http_path"]

    def base_url_for(self, path: str) -> str | None:
        """Where App Platform's ingress would send `path` (policies/platform_model/ingress.py), or None when the edge
        answers it itself (a redirect) or has no rule for it."""
        route = route_for(self.ingress, path)
        if route is None or route.public_component is None:
            return None
        inst = next(i for i in self.instances if i.component == route.public_component)
        return inst.url(int(inst.spec["http_port"]))

    # -- lifecycle --

    def wait_healthy(self, instances: list[Instance], timeout: float, path: str | None = None) -> None:
        """Until every instance's health check answers 200 (or `path` on its HTTP port does)."""
        deadline = time.monotonic() + timeout
        pending = {i.name: (i.url(int(i.spec["http_port"])) + path if path else self.health_url(i))
                   for i in instances}
        while pending:
            for name, url in list(pending.items()):
                proc = self.processes[name]
                if not proc.alive():
                    raise RehearsalError(f"{name} exited with code {proc.popen.returncode} before it was healthy; "
                                         f"last output:\n{tail(proc.log_text())}")
                if url is None or http_ok(url):
                    pending.pop(name)
            if pending and time.monotonic() > deadline:
                raise RehearsalError(f"not healthy after {timeout:.0f} s: {', '.join(sorted(pending))}")
            if pending:
                time.sleep(0.5)

    def stop(self, grace: float = 40) -> None:
        self._stop(list(self.processes.values()), grace)

    def stop_instances(self, instances: list[Instance], grace: float = 40) -> None:
        self._stop([self.processes[i.name] for i in instances], grace)

    @staticmethod
    def _stop(processes: list[Process], grace: float) -> None:
        """SIGTERM them together, wait up to `grace` seconds, then SIGKILL what is left."""
        procs = [p for p in processes if p.alive()]
        for p in procs:
            p.terminate()
        deadline = time.monotonic() + grace
        for p in procs:
            try:
                p.popen.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.popen.wait(5)


def tail(text: str, lines: int = 12) -> str:
    """The last lines of a process's output, without JavaScript stack frames."""
    kept = [line for line in text.rstrip().splitlines() if line.strip() and not line.lstrip().startswith("at ")]
    return "\n".join(kept[-lines:])

