"""What App Platform does for a running deployment, for the fault drills: restart a container that exits
(same command, same environment), probe each container's health checks as the spec sets them
(rehearsal/probes.py), restart a container whose liveness check fails, and keep the list of instances
whose readiness check passes — the only ones the edge (rehearsal/edge.py) sends traffic to.

What it does not model: App Platform's restart back-off (a container that keeps exiting is restarted
here after RESTART_DELAY_SECONDS every time), image pulls, and the time a new container takes to be
scheduled.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .deployment import JOB, Instance, LocalDeployment, Process, http_ok
from .probes import LIVENESS, READINESS, Probe, ProbeState

RESTART_DELAY_SECONDS = 1.0
TICK_SECONDS = 0.2


@dataclass
class Watched:
    """One instance under supervision: its probes' state and what happened to it."""

    instance: Instance
    readiness: ProbeState | None = None
    liveness: ProbeState | None = None
    held: bool = False  # deliberately stopped (a drill's fault, a deployment step): not restarted
    restarts: list[str] = field(default_factory=list)  # why each restart happened

    def reset(self, now: float) -> None:
        spec = self.instance.spec
        self.readiness = self._state(Probe.from_spec(READINESS, spec), now)
        self.liveness = self._state(Probe.from_spec(LIVENESS, spec), now)

    @staticmethod
    def _state(probe: Probe | None, now: float) -> ProbeState | None:
        return None if probe is None else ProbeState(probe, now)

    @property
    def ready(self) -> bool:
        """Takes traffic: readiness passing, or (no readiness check) simply running."""
        return not self.held and (self.readiness is None or self.readiness.passing)


def stop_gracefully(proc: Process, grace: float) -> None:
    """SIGTERM, then SIGKILL after `grace` seconds: App Platform's termination."""
    proc.terminate()
    try:
        proc.popen.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.popen.wait(10)


class Supervisor:
    def __init__(self, deployment: LocalDeployment, log: Callable[[str], None] = print,
                 probe: Callable[[str, float], bool] = lambda url, timeout: http_ok(url, timeout)):
        self.d = deployment
        self.log = log
        self.probe = probe
        now = time.monotonic()
        self.watched = {i.name: Watched(i) for i in deployment.instances if i.role != JOB}
        for w in self.watched.values():
            w.reset(now)
            if w.readiness is not None:  # already started and checked healthy by the rehearsal
                w.readiness.passing = True
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- what the edge and the drills ask --

    def ready_instances(self, component: str) -> list[Instance]:
        with self.lock:
            return [w.instance for w in self.watched.values() if w.instance.component == component and w.ready]

    def hold(self, name: str) -> None:
        with self.lock:
            self.watched[name].held = True

    def release(self, name: str) -> None:
        """Start a held instance again (as a new container) and supervise it."""
        with self.lock:
            w = self.watched[name]
            self.d.start(w.instance)
            w.reset(time.monotonic())
            w.held = False

    def add(self, inst: Instance) -> None:
        """Start a new container of a component (a deployment's new version) and supervise it."""
        w = Watched(inst)
        with self.lock:
            self.d.start(inst)
            w.reset(time.monotonic())
            self.watched[inst.name] = w
        self._spawn(w)

    def forget(self, name: str) -> None:
        """A replaced container: no longer supervised (its thread ends)."""
        with self.lock:
            self.watched.pop(name).held = True

    def wait_ready(self, name: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if self.watched[name].ready:
                    return True
            time.sleep(0.5)
        return False

    def wait_all_ready(self, timeout: float) -> bool:
        return all(self.wait_ready(name, timeout) for name in list(self.watched))

    def restarts(self) -> dict[str, list[str]]:
        with self.lock:
            return {n: list(w.restarts) for n, w in self.watched.items() if w.restarts}

    # -- the loop --

    def __enter__(self) -> Supervisor:
        for w in self.watched.values():
            self._spawn(w)
        return self

    def _spawn(self, w: Watched) -> None:
        t = threading.Thread(target=self._watch, args=(w,), daemon=True, name=f"supervise {w.instance.name}")
        t.start()
        self._threads.append(t)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(15)

    def _watch(self, w: Watched) -> None:
        while not self._stop.wait(TICK_SECONDS):
            with self.lock:
                if w.instance.name not in self.watched:
                    return
                if w.held:
                    continue
                proc = self.d.processes.get(w.instance.name)
            if proc is not None and not proc.alive():
                self._restart(w, f"exited with code {proc.popen.returncode}", proc)
                continue
            for state in (w.readiness, w.liveness):
                if state is not None and state.due(time.monotonic()):
                    url = w.instance.url(state.probe.port) + state.probe.path
                    ok = self.probe(url, state.probe.timeout)
                    with self.lock:
                        state.record(ok, time.monotonic())
            if w.liveness is not None and w.liveness.calls_for_restart and proc is not None:
                self._restart(w, f"liveness {w.liveness.probe.path} failed {w.liveness.failures} times", proc)

    def _restart(self, w: Watched, why: str, proc: Process) -> None:
        self.log(f"supervisor: {w.instance.name} {why}; restarting")
        if proc.alive():
            stop_gracefully(proc, float((w.instance.spec.get("termination") or {}).get("grace_period_seconds", 120)))
        if self._stop.wait(RESTART_DELAY_SECONDS):
            return
        with self.lock:
            if w.held:
                return
            w.restarts.append(why)
            self.d.start(w.instance)
            w.reset(time.monotonic())
