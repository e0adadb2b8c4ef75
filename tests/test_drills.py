"""The fault drills' stand-ins for App Platform, without n8n: health-check rules, the supervisor that
restarts containers, and the edge that routes only to ready instances."""

from __future__ import annotations

import argparse
import json
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from platform_model.ingress import Route
from rehearsal import supervisor
from rehearsal.deployment import Instance, Process
from rehearsal.drills import DRILLS, drill_names
from rehearsal.edge import Edge
from rehearsal.probes import LIVENESS, READINESS, Probe, ProbeState
from rehearsal.supervisor import Supervisor


def check(**fields) -> dict:
    return {"http_path": "/healthz", "port": 5678, **fields}


# --- probes ---------------------------------------------------------------------------------------


def test_a_probe_takes_the_spec_values_and_digitaloceans_defaults_for_the_rest():
    probe = Probe.from_spec(LIVENESS, {"http_port": 5678, LIVENESS: {"http_path": "/healthz", "period_seconds": 3}})
    assert (probe.port, probe.path, probe.period, probe.initial_delay, probe.timeout, probe.failure_threshold) == (
        5678, "/healthz", 3, 5, 1, 18)
    assert Probe.from_spec(READINESS, {"http_port": 5678}) is None


def test_readiness_waits_for_the_initial_delay_then_passes_and_fails_on_the_thresholds():
    probe = Probe.from_spec(READINESS, {READINESS: check(initial_delay_seconds=30, period_seconds=10,
                                                         success_threshold=2, failure_threshold=3)})
    state = ProbeState(probe, started=100.0)
    assert not state.due(129.9) and state.due(130.0)
    state.record(True, 130)
    assert not state.passing and not state.due(139) and state.due(140)
    state.record(True, 140)
    assert state.passing
    for t in (150, 160):
        state.record(False, t)
        assert state.passing  # two failures of three: still in rotation
    state.record(False, 170)
    assert not state.passing and not state.calls_for_restart  # readiness never restarts
    state.record(True, 180)
    assert not state.passing  # needs two successes again


def test_liveness_calls_for_a_restart_after_the_failure_threshold_in_a_row():
    state = ProbeState(Probe.from_spec(LIVENESS, {LIVENESS: check(failure_threshold=3)}), started=0.0)
    state.record(False, 5)
    state.record(False, 15)
    state.record(True, 25)  # a success resets the count
    state.record(False, 35)
    state.record(False, 45)
    assert not state.calls_for_restart
    state.record(False, 55)
    assert state.calls_for_restart


# --- supervisor -----------------------------------------------------------------------------------


@dataclass
class SleepDeployment:
    """Just what the supervisor uses of a LocalDeployment: each instance is a `sleep` process."""

    tmp: Path
    instances: list[Instance]
    processes: dict[str, Process] = field(default_factory=dict)
    starts: int = 0

    def start(self, inst: Instance) -> Process:
        self.starts += 1
        popen = subprocess.Popen(["sleep", "60"], start_new_session=True)
        self.processes[inst.name] = Process(inst, popen, self.tmp / "log")
        return self.processes[inst.name]

    def stop(self) -> None:
        for p in self.processes.values():
            p.kill()
            p.popen.wait(5)


def service(name: str, **checks) -> Instance:
    return Instance(name, "main", 1, {}, {5678: 1}, {"name": name, "http_port": 5678,
                                                    "termination": {"grace_period_seconds": 2}, **checks})


def wait_for(condition, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def deployment(tmp_path, monkeypatch):
    """Sleep deployments under a supervisor that looks every 20 ms and restarts after 0.1 s (the drills use
    0.2 s and 1 s); the logic is the same, the test just waits less."""
    monkeypatch.setattr(supervisor, "TICK_SECONDS", 0.02)
    monkeypatch.setattr(supervisor, "RESTART_DELAY_SECONDS", 0.1)
    made = []

    def make(*instances: Instance) -> SleepDeployment:
        d = SleepDeployment(tmp_path, list(instances))
        for inst in instances:
            d.start(inst)
        made.append(d)
        return d

    yield make
    for d in made:
        d.stop()


def test_a_container_that_exits_is_started_again_with_the_reason_recorded(deployment):
    d = deployment(service("main"))
    with Supervisor(d, log=lambda m: None, probe=lambda url, timeout: True) as sup:
        d.processes["main"].kill()
        assert wait_for(lambda: d.starts == 2 and d.processes["main"].alive())
        assert sup.restarts() == {"main": ["exited with code -9"]}


def test_a_failing_liveness_check_restarts_the_container_and_readiness_takes_it_out_of_rotation(deployment):
    # Periods of a tenth of a second (the spec allows whole seconds) so the test waits less; liveness gives
    # up after four failures, so readiness has taken the container out of rotation well before.
    d = deployment(service("main", health_check=check(period_seconds=0.1, failure_threshold=1,
                                                      initial_delay_seconds=0),
                           liveness_health_check=check(period_seconds=0.1, failure_threshold=4,
                                                       initial_delay_seconds=0)))
    hung = threading.Event()
    # Only the first container hangs: the one started in its place answers, so it is restarted exactly once.
    with Supervisor(d, log=lambda m: None, probe=lambda url, timeout: not hung.is_set() or d.starts > 1) as sup:
        assert [i.name for i in sup.ready_instances("main")] == ["main"]
        first = d.processes["main"]
        hung.set()
        assert wait_for(lambda: sup.ready_instances("main") == [])
        assert wait_for(lambda: d.starts == 2)
        assert not first.alive() and sup.restarts()["main"] == ["liveness /healthz failed 4 times"]
        assert wait_for(lambda: sup.ready_instances("main") != [])  # the new container passes readiness again


def test_a_held_container_is_neither_restarted_nor_routed_to(deployment):
    d = deployment(service("main"))
    with Supervisor(d, log=lambda m: None, probe=lambda url, timeout: True) as sup:
        sup.hold("main")
        d.processes["main"].kill()
        time.sleep(0.5)  # five restart delays
        assert d.starts == 1 and sup.ready_instances("main") == []
        sup.release("main")
        assert d.starts == 2 and d.processes["main"].alive()


# --- edge -----------------------------------------------------------------------------------------


def upstream(name: str) -> ThreadingHTTPServer:
    class Answer(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.dumps({"by": name, "got": self.rfile.read(int(self.headers["Content-Length"])).decode(),
                               "path": self.path}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


def post(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=b"hello", method="POST"), timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_the_edge_relays_to_ready_instances_in_turn_and_answers_503_when_none_is_ready():
    servers = [upstream("a"), upstream("b")]
    instances = [Instance("main", "main", i + 1, {}, {5678: s.server_address[1]}, {"http_port": 5678})
                 for i, s in enumerate(servers)]
    ready = {"main": list(instances)}
    try:
        with Edge([Route("/", "main")], lambda c: ready.get(c, [])) as edge:
            answers = [json.loads(post(f"{edge.url}/webhook/x?y=1")[1]) for _ in range(4)]
            assert sorted(a["by"] for a in answers) == ["a", "a", "b", "b"]
            assert answers[0]["got"] == "hello" and answers[0]["path"] == "/webhook/x?y=1"
            ready["main"] = [instances[1]]
            assert {json.loads(post(f"{edge.url}/x")[1])["by"] for _ in range(3)} == {"b"}
            ready["main"] = []
            assert post(f"{edge.url}/x")[0] == 503
    finally:
        for s in servers:
            s.shutdown()
            s.server_close()


# --- selecting drills -----------------------------------------------------------------------------


def test_drills_are_selected_by_name_and_an_unknown_name_lists_the_real_ones():
    assert drill_names("") == list(DRILLS)
    assert drill_names("kill-worker, postgres-60s") == ["kill-worker", "postgres-60s"]
    with pytest.raises(argparse.ArgumentTypeError, match=r"unknown drill.*kill-nothing.*kill-runner"):
        drill_names("kill-worker,kill-nothing")
