"""The rehearsal end to end: real n8n (the stack's pinned version, installed from npm into the cache),
PostgreSQL and Redis over verified TLS, every component of the prod stack's App spec as a process.

Marked `rehearsal`: the default `pytest` run deselects these (they need Debian's redis-server,
PostgreSQL and PgBouncer, and n8n in the cache — about 5 minutes to install once); `.ci/run` runs them as their own
step with `pytest -m rehearsal`. Each test starts and stops its own topology.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest

from rehearsal import scenarios
from rehearsal.n8n_api import PublicApi
from rehearsal.pgbouncer import PoolUse, observe, pool_check, start_pgbouncer
from rehearsal.pki import make_pki
from rehearsal.rehearse import Options, running
from rehearsal.services import free_ports, postgres_bin, start_postgres

pytestmark = pytest.mark.rehearsal
PROJECT = Path(__file__).resolve().parent.parent


def rehearse(tmp_path, *args: str, timeout: float = 900) -> tuple[int, dict, str]:
    out = tmp_path / "report.json"
    done = subprocess.run([sys.executable, "-m", "rehearsal", "prod", "--report-json", str(out), *args],
                          cwd=PROJECT, capture_output=True, text=True, timeout=timeout)
    report = json.loads(out.read_text()) if out.exists() else {}
    return done.returncode, report, done.stdout + done.stderr


def checks(report: dict, prefix: str) -> list[dict]:
    return [c for c in report["checks"] if c["name"].startswith(prefix)]


def test_rehearse_prod_passes_the_whole_checklist(tmp_path):
    code, report, output = rehearse(tmp_path)
    assert code == 0, output
    assert report["ok"] and "RESULT: all checks passed" in output
    assert checks(report, "pre-deploy job n8n-db-grants")[0]["ok"]
    registered = {c["pair"]: c["detail"] for c in checks(report, "health: n8n-runners-") if c["pair"]}
    assert set(registered) == {"n8n-worker-1 / n8n-runners-1", "n8n-worker-2 / n8n-runners-2"}
    for worker, pool in (("n8n-worker-1", "n8n-runners-1"), ("n8n-worker-2", "n8n-runners-2")):
        [hook] = checks(report, f"webhook via {worker}")
        assert hook["ok"] and f"ran on {worker}, Code node served by {pool}" in hook["detail"]
        assert f"{pool}-" in registered[f"{worker} / {pool}"]
    [manual] = checks(report, "manual execution")
    assert "(mode manual) ran the Code node; ran on n8n-worker-" in manual["detail"]
    [schedule] = checks(report, "schedule-triggered Code node")
    assert "(mode trigger) ran the Code node; ran on n8n-worker-" in schedule["detail"]
    load = report["load"]
    assert load["requests"] == 300 and load["concurrency"] == 8 and load["worker_slots"] == 20
    assert load["failed"] == 0 and load["hung"] == 0 and load["throughput_per_second"] > 1
    assert set(load["per_pair"]) == {"n8n-worker-1", "n8n-worker-2"}
    assert checks(report, "no temporary workflow left behind")[0]["ok"]


def test_rehearse_prod_through_a_pgbouncer_pool_passes_the_whole_checklist(tmp_path):
    code, report, output = rehearse(tmp_path, "--pool")
    assert code == 0, output
    assert "through PgBouncer pool n8n-pool (transaction, 92 server connections)" in report["title"]
    assert checks(report, "pre-deploy job n8n-db-grants")[0]["ok"]
    for worker in ("n8n-worker-1", "n8n-worker-2"):
        assert checks(report, f"webhook via {worker}")[0]["ok"]
    assert checks(report, "manual execution")[0]["ok"] and checks(report, "schedule-triggered Code node")[0]["ok"]
    load = report["load"]
    assert load["requests"] == 300 and load["failed"] == 0 and load["hung"] == 0
    [pool] = checks(report, "n8n's PostgreSQL connections go through PgBouncer (n8n-pool)")
    assert pool["ok"], pool
    # main and two workers, DB_POSTGRESDB_POOL_SIZE 2 each: at most 6 client connections, all through the pool.
    figures = report["pool"]
    assert 0 < figures["peak_client_connections"] <= 6 and 0 < figures["peak_server_connections"] <= 6
    assert figures["transactions"] > 300 and figures["n8n_backends"] > 0 and figures["bypassing"] == []


@pytest.fixture
def run_dir():
    # Like the rehearsal's own: under /tmp, where PostgreSQL's user can reach it (pytest's tmp_path is not).
    path = Path(tempfile.mkdtemp(prefix="n8n-platform-pool-test-"))
    path.chmod(0o711)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_the_pool_is_tls_only_and_its_check_sees_a_connection_that_bypasses_it(run_dir):
    # PostgreSQL and PgBouncer alone, as the pool rehearsal lays them out; psql plays n8n.
    pki = make_pki(run_dir / "pki")
    pg_port, pool_port = free_ports(2)
    postgres = start_postgres(run_dir / "postgres", pki, pg_port)
    try:
        bouncer = start_pgbouncer(run_dir / "pgbouncer", pki, postgres, pool_port, "transaction", 5)
        try:
            def psql(port: int, dbname: str, sslmode: str, password: str = postgres.n8n_password):
                return subprocess.Popen(
                    [postgres_bin("psql"), f"host=localhost port={port} dbname={dbname} user=n8n sslmode={sslmode} "
                     f"sslrootcert={pki.ca_cert}", "-Atc", "SELECT pg_sleep(3), ssl FROM pg_stat_ssl "
                     "WHERE pid = pg_backend_pid()"], env={"PGPASSWORD": password, "PATH": os.environ["PATH"]},
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

            plain, wrong = psql(pool_port, "n8n-pool", "disable"), psql(pool_port, "n8n-pool", "verify-full", "nope")
            assert "SSL required" in plain.communicate(30)[1] and plain.returncode != 0
            assert "authentication failed" in wrong.communicate(30)[1] and wrong.returncode != 0
            through = psql(pool_port, "n8n-pool", "verify-full")
            time.sleep(1.5)
            assert observe(bouncer, PoolUse()).bypassing == []
            direct = psql(pg_port, "n8n", "verify-full")
            time.sleep(1.5)
            use = observe(bouncer, PoolUse())
            assert len(use.bypassing) == 1 and len(use.n8n_backends) == 2
            assert not pool_check(use, "transaction", 5).ok
            # Through the pool too, the server connection is TLS (pg_stat_ssl on PostgreSQL's side).
            assert [p.communicate(30)[0].strip() for p in (through, direct)] == ["|t", "|t"]
        finally:
            bouncer.stop()
    finally:
        postgres.stop()


def test_with_offload_off_main_runs_manual_executions_on_its_own_runner_pool(tmp_path):
    code, report, output = rehearse(tmp_path, "--offload", "off", "--load", "0")
    assert code == 0, output
    [pool] = checks(report, "health: n8n-runners-main registered")
    assert pool["ok"] and "n8n-main's broker registered n8n-runners-main-" in pool["detail"]
    [manual] = checks(report, "manual execution")
    assert "ran on n8n-main (offload off), Code node served by n8n-runners-main" in manual["detail"]


def test_negative_control_fails_and_names_the_broken_pair_while_the_other_keeps_working(tmp_path):
    started = time.monotonic()
    code, report, output = rehearse(tmp_path, "--negative-control")
    assert code == 1, output
    assert report["failing_pairs"] == ["n8n-worker-2 / n8n-runners-2"]
    assert "failing worker pair(s): n8n-worker-2 / n8n-runners-2" in output
    [broken] = checks(report, "webhook via n8n-worker-2")
    assert not broken["ok"] and "Task request timed out" in broken["detail"]
    [healthy] = checks(report, "webhook via n8n-worker-1")
    assert healthy["ok"], healthy
    print(f"negative control took {time.monotonic() - started:.0f} s")


def test_without_the_pre_deploy_job_n8n_cannot_migrate(tmp_path):
    code, report, _output = rehearse(tmp_path, "--skip-db-grants")
    assert code == 1
    [start] = checks(report, "topology starts")
    assert "n8n-main exited" in start["detail"] and "permission denied for schema public" in start["detail"]


# --- verify, against the rehearsal's live topology ----------------------------------------------


@pytest.fixture(scope="module")
def live():
    report = scenarios.Report("verify fixture")
    with running(Options("prod"), report, log=lambda m: None) as run:
        yield run


def verify(live, *args: str, env: dict | None = None, **popen) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "rehearsal.verify", "--url", live.target.url, *args], cwd=PROJECT,
                            env={**os.environ, "N8N_API_KEY": live.api_key, **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **popen)


def temporary(api: PublicApi) -> list[str]:
    return [w["name"] for w in api.workflows() if w["name"].startswith(scenarios.TEMP_PREFIX)]


def test_verify_passes_against_a_live_deployment_and_cleans_up_leftovers(live):
    api = live.target.api
    api.create_workflow(scenarios.manual_workflow())  # what a killed earlier run would leave
    proc = verify(live, "--calls", "4", "--editor-email", "owner@rehearsal.invalid",
                  env={"N8N_EDITOR_PASSWORD": live.owner_password})
    out = proc.communicate(timeout=300)[0]
    assert proc.returncode == 0, out
    for line in ("[PASS] health: main /healthz", "[PASS] webhook → queue → worker → Code node → response",
                 "[PASS] manual execution", "[PASS] schedule-triggered Code node", "RESULT: all checks passed",
                 "deleted 1 temporary workflow(s) an earlier run left behind"):
        assert line in out
    assert temporary(api) == []


def test_verify_interrupted_mid_check_leaves_no_workflow(live):
    api = live.target.api
    proc = verify(live, "--calls", "4")
    deadline = time.monotonic() + 60
    while not temporary(api) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert temporary(api), "verify never created its workflow"
    proc.send_signal(signal.SIGTERM)
    out = proc.communicate(timeout=120)[0]
    assert proc.returncode == 130, out
    assert temporary(api) == []


def test_verify_with_a_wrong_api_key_fails_readably(live):
    proc = verify(live, env={"N8N_API_KEY": "not-a-key"})
    out = proc.communicate(timeout=60)[0]
    assert proc.returncode == 1
    assert "[FAIL] public API reachable" in out and "401" in out and "API key" in out


def test_verify_lists_an_execution_running_longer_than_allowed(live):
    api = live.target.api
    slow = "await new Promise((resolve) => setTimeout(resolve, 90000));\n" + scenarios.CODE
    with scenarios.temporary_workflows(api) as temps:
        path = f"n8n-platform-slow-{uuid.uuid4().hex[:8]}"
        workflow = scenarios.webhook_workflow(path, slow)
        workflow["name"] = f"n8n-platform stuck-execution test {path}"  # not a leftover verify would remove
        temps.create(workflow, activate=True)
        caller = threading.Thread(target=scenarios.first_call, args=(f"{live.target.webhook_url}/webhook/{path}", 120))
        caller.start()
        deadline = time.monotonic() + 60
        while not list(api.paged("/executions", status="running")) and time.monotonic() < deadline:
            time.sleep(0.5)
        [running_now] = list(api.paged("/executions", status="running"))
        proc = verify(live, "--calls", "2", "--stuck-after", "5")
        out = proc.communicate(timeout=300)[0]
        caller.join()
    assert proc.returncode == 1, out
    assert "[FAIL] no execution running or new for more than 5 s" in out and f"{running_now['id']} (running" in out
