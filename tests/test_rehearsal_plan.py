"""How the rehearsal turns a rendered App spec into processes: only bindings, secrets and ports change.
Fast: nothing is started (the launcher test runs a stand-in runner against a stand-in broker)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import UTC
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from offline.render import DB_ADMIN_PASSWORD, offline_spec
from platform_model import catalog
from platform_model.ingress import routes
from platform_model.topology import DB_NAME, DB_POOL, DB_USER
from rehearsal import launcher
from rehearsal.deployment import (
    BACKUP,
    JOB,
    MAIN,
    RUNNERS,
    WORKER,
    LocalDeployment,
    RehearsalError,
    Substitutions,
    plan_instances,
)
from rehearsal.install import N8nInstall
from rehearsal.pgbouncer import PoolUse, pool_check
from rehearsal.pki import Pki
from rehearsal.rehearse import stack_settings
from rehearsal.scenarios import Check, Report
from rehearsal.services import free_ports

PROJECT = Path(__file__).resolve().parent.parent
CA = "-----BEGIN CERTIFICATE-----\nlocal CA\n-----END CERTIFICATE-----\n"


POSTGRES = {"HOSTNAME": "localhost", "PORT": "15432", "USERNAME": DB_USER, "PASSWORD": "pg-secret",
            "DATABASE": DB_NAME, "CA_CERT": CA}


def substitutions(pool: bool = False) -> Substitutions:
    subs = Substitutions({
        "postgres": POSTGRES,
        "valkey": {"HOSTNAME": "localhost", "PORT": "16379", "USERNAME": "default", "PASSWORD": "vk-secret"},
    })
    if pool:  # as rehearsal.pgbouncer binds its PgBouncer
        subs.bindings[f"postgres.{DB_POOL}"] = {**POSTGRES, "PORT": "16432", "DATABASE": DB_POOL}
    subs.secrets[DB_ADMIN_PASSWORD] = "doadmin-secret"
    return subs


def planned(stack: str = "prod", offload=None, spec_edit=None, pool: bool = False):
    spec = offline_spec(stack_settings(stack, offload, pool))
    if spec_edit:
        spec_edit(spec)
    subs = substitutions(pool)
    return spec, subs, plan_instances(spec, subs)


def spec_env(component: dict) -> dict:
    return {e["key"]: e["value"] for e in component["envs"]}


def test_every_component_gets_exactly_its_spec_env_with_bindings_secrets_and_ports_filled_in():
    spec, subs, instances = planned()
    by_name = {c["name"]: c for kind in ("services", "workers", "jobs") for c in spec[kind]}
    assert sorted(i.name for i in instances) == sorted(by_name)
    for inst in instances:
        declared = set(spec_env(by_name[inst.name]))
        extra = {"N8N_PORT"} if "http_port" in by_name[inst.name] else set()
        assert set(inst.spec_env) == declared | extra, inst.name
        for key, value in inst.spec_env.items():
            assert "${" not in value and "<redacted" not in value, (inst.name, key, value)
    main = next(i for i in instances if i.role == MAIN)
    assert main.spec_env["DB_POSTGRESDB_PASSWORD"] == "pg-secret"
    assert main.spec_env["DB_POSTGRESDB_SSL_CA"] == CA
    assert main.spec_env["QUEUE_BULL_REDIS_PORT"] == "16379"
    assert main.spec_env["N8N_WEBHOOK_URL"] == subs.app_url == f"http://127.0.0.1:{main.spec_env['N8N_PORT']}"
    job = next(i for i in instances if i.role == JOB)
    assert job.spec_env["PGPASSWORD"] == "doadmin-secret" and job.spec_env["PGUSER"] == "doadmin"


def test_every_n8n_process_keeps_finished_queue_jobs_so_no_webhook_caller_waits_forever():
    _, _, instances = planned()
    for inst in (i for i in instances if i.role in (MAIN, WORKER)):
        assert inst.spec_env["N8N_EXECUTIONS_QUEUE_KEEP_LAST_COMPLETED"] == str(catalog.QUEUE_KEEP_LAST_JOBS)
        assert inst.spec_env["N8N_EXECUTIONS_QUEUE_KEEP_LAST_FAILED"] == str(catalog.QUEUE_KEEP_LAST_JOBS)


def test_secrets_are_strong_shared_where_the_spec_shares_them_and_each_broker_token_only_with_its_pool():
    _, _, instances = planned()
    n8n = [i for i in instances if i.role in (MAIN, WORKER)]
    keys = {i.spec_env["N8N_ENCRYPTION_KEY"] for i in n8n}
    assert len(keys) == 1 and len(keys.pop()) >= catalog.MIN_SECRET_LENGTH
    tokens = {}
    for worker in (i for i in instances if i.role == WORKER):
        pool = next(i for i in instances if i.role == RUNNERS
                    and i.spec_env["N8N_RUNNERS_TASK_BROKER_URI"].endswith(f":{worker.ports[catalog.BROKER_PORT]}"))
        assert pool.spec_env["N8N_RUNNERS_AUTH_TOKEN"] == worker.spec_env["N8N_RUNNERS_AUTH_TOKEN"]
        assert worker.spec_env["N8N_RUNNERS_BROKER_PORT"] == str(worker.ports[catalog.BROKER_PORT])
        assert worker.spec_env["QUEUE_HEALTH_CHECK_PORT"] == str(worker.ports[catalog.N8N_HTTP_PORT])
        tokens[worker.name] = worker.spec_env["N8N_RUNNERS_AUTH_TOKEN"]
    assert len(set(tokens.values())) == len(tokens) == 2


def test_ports_are_remapped_without_collisions():
    _, _, instances = planned(offload=False)
    local = [p for i in instances for p in i.ports.values()]
    assert len(local) == len(set(local))
    main = next(i for i in instances if i.role == MAIN)
    pool = next(i for i in instances if i.name == "n8n-runners-main")
    assert pool.spec_env["N8N_RUNNERS_TASK_BROKER_URI"] == f"http://127.0.0.1:{main.ports[catalog.BROKER_PORT]}"


def test_a_binding_the_rehearsal_cannot_fill_is_an_error_naming_component_and_key():
    def add_unknown(spec):
        spec["services"][0]["envs"].append({"key": "SOMETHING", "value": "${cache.HOSTNAME}"})

    with pytest.raises(RehearsalError, match=r"n8n-main: SOMETHING uses \$\{cache.HOSTNAME\}"):
        planned(spec_edit=add_unknown)


def test_a_placeholder_left_in_the_spec_is_an_error():
    def add_placeholder(spec):
        spec["services"][0]["envs"].append({"key": "N8N_LICENSE_ACTIVATION_KEY", "value": "<REQUIRED>"})

    with pytest.raises(RehearsalError, match="placeholder"):
        planned(spec_edit=add_placeholder)


def test_with_a_pool_n8n_gets_the_pool_and_the_pre_deploy_job_the_cluster():
    _, _, instances = planned(pool=True)
    for inst in (i for i in instances if i.role in (MAIN, WORKER)):
        e = inst.spec_env
        assert (e["DB_POSTGRESDB_HOST"], e["DB_POSTGRESDB_PORT"], e["DB_POSTGRESDB_DATABASE"]) == \
            ("localhost", "16432", DB_POOL), inst.name
        assert (e["DB_POSTGRESDB_USER"], e["DB_POSTGRESDB_PASSWORD"], e["DB_POSTGRESDB_SSL_CA"]) == \
            (DB_USER, "pg-secret", CA)
        assert e["DB_POSTGRESDB_SSL_REJECT_UNAUTHORIZED"] == "true"
    job = next(i for i in instances if i.role == JOB)
    assert (job.spec_env["PGHOST"], job.spec_env["PGPORT"]) == ("localhost", "15432")
    assert job.spec_env["DB_GRANTS_SQL"].endswith("ALTER DATABASE n8n SET statement_timeout = 300000;")


def test_a_pool_the_rehearsal_did_not_start_cannot_be_bound():
    with pytest.raises(RehearsalError, match=r"n8n-main: DB_POSTGRESDB_HOST uses \$\{postgres.n8n-pool.HOSTNAME\}"):
        plan_instances(offline_spec(stack_settings("prod", None, pool=True)), substitutions(pool=False))

    def other_pool(spec):
        spec["services"][0]["envs"].append({"key": "OTHER", "value": "${postgres.reporting-pool.PORT}"})

    with pytest.raises(RehearsalError, match=r"OTHER uses \$\{postgres.reporting-pool.PORT\}"):
        planned(pool=True, spec_edit=other_pool)


def test_pool_override_sets_transaction_mode_and_keeps_the_stacks_own_pool_size(tmp_path, monkeypatch):
    assert stack_settings("prod", None).postgres.connection_pool is None
    assert stack_settings("prod", None, pool=True).postgres.connection_pool.mode == "transaction"
    stack = (PROJECT / "Pulumi.prod.yaml").read_text().replace(
        "  n8n-platform:postgres:\n", "  n8n-platform:postgres:\n    connectionPool: {mode: session, size: 30}\n")
    (tmp_path / "Pulumi.pooled.yaml").write_text(stack)
    monkeypatch.chdir(tmp_path)
    pool = stack_settings("pooled", None, pool=True).postgres.connection_pool
    assert (pool.mode, pool.size) == ("transaction", 30)
    assert stack_settings("pooled", None).postgres.connection_pool.mode == "session"


@pytest.mark.parametrize("use,fragment", [
    (PoolUse(transactions=10, n8n_backends=[5001, 5002], pool_server_ports={5001}),
     "1 of PostgreSQL's 2 n8n backend(s) did not come from the pool (client ports [5002]): n8n connected directly"),
    (PoolUse(transactions=0, n8n_backends=[5001], pool_server_ports={5001}), "PgBouncer carried no transaction"),
    (PoolUse(transactions=10), "PostgreSQL showed no backend of user n8n"),
])
def test_the_pool_check_fails_when_n8n_bypassed_or_did_not_use_the_pool(use, fragment):
    check = pool_check(use, "transaction", 92)
    assert not check.ok and fragment in check.detail


def test_the_pool_check_reports_clients_against_server_connections():
    use = PoolUse(peak_clients=6, peak_servers=3, transactions=900, n8n_backends=[5001, 5002, 5003],
                  pool_server_ports={5001, 5002, 5003, 5004})
    check = pool_check(use, "transaction", 92)
    assert check.ok and check.detail.startswith(
        "up to 6 n8n client connection(s) to n8n-pool (transaction, size 92), up to 3 server connection(s)")


def test_processes_get_the_spec_env_plus_plumbing_and_nothing_from_the_caller(tmp_path, monkeypatch):
    monkeypatch.setenv("N8N_RUNNERS_TASK_REQUEST_TIMEOUT", "5")  # must not leak into any component
    spec, _, instances = planned()
    pki = Pki(tmp_path / "ca.pem", tmp_path / "server.pem", tmp_path / "server.key")
    d = LocalDeployment(tmp_path, N8nInstall(tmp_path / "n8n", "2.41.1"), pki, instances, routes(spec))
    for inst in instances:
        env = d.process_env(inst)
        plumbing = set(env) - set(inst.spec_env)
        if inst.role in (RUNNERS, JOB, BACKUP):
            assert plumbing == {"PATH", "HOME"}, inst.name
        else:
            assert plumbing == {"PATH", "HOME", "NODE_ENV", "N8N_RELEASE_TYPE", "NODE_EXTRA_CA_CERTS"}, inst.name
            assert env["NODE_EXTRA_CA_CERTS"] == str(pki.ca_cert)
        assert "N8N_RUNNERS_TASK_REQUEST_TIMEOUT" not in env
        assert env["PATH"].startswith(str(d.install.bin_dir))
    assert len({d.process_env(i)["HOME"] for i in instances}) == len(instances)
    assert d.base_url_for("/webhook/abc") == d.main.url(catalog.N8N_HTTP_PORT)


@pytest.mark.parametrize("form", ["n8n worker", "worker"])
def test_either_run_command_form_runs_the_same_n8n_command(tmp_path, form):
    # `worker` is what the image's entrypoint (`exec n8n "$@"`) turns into `n8n worker`.
    def set_form(spec):
        for c in spec["services"]:
            if c["name"].startswith("n8n-worker-"):
                c["run_command"] = form

    spec, _, instances = planned(spec_edit=set_form)
    pki = Pki(tmp_path / "ca.pem", tmp_path / "server.pem", tmp_path / "server.key")
    d = LocalDeployment(tmp_path, N8nInstall(tmp_path / "n8n", "2.41.1"), pki, instances, routes(spec))
    workers = [i for i in instances if i.role == WORKER]
    assert len(workers) == 2
    assert all(d.command(w) == [str(d.install.node), str(d.install.n8n), "worker"] for w in workers)
    main = next(i for i in instances if i.role == MAIN)
    assert d.command(main) == [str(d.install.node), str(d.install.n8n), "start"]


def test_a_run_command_n8n_has_no_command_for_is_an_error():
    with pytest.raises(RehearsalError, match="runs `n8n wrker`, which is not one of n8n's long-running commands"):
        planned(spec_edit=lambda spec: spec["services"][1].update(run_command="n8n wrker"))


def test_report_names_the_failing_pairs():
    report = Report("t", [Check("health: main", True, "ok"),
                          Check("webhook via n8n-worker-2", False, "Task request timed out",
                                "n8n-worker-2 / n8n-runners-2")])
    assert not report.ok and report.failing_pairs == ["n8n-worker-2 / n8n-runners-2"]
    assert "failing worker pair(s): n8n-worker-2 / n8n-runners-2" in report.render()
    assert json.loads(json.dumps(report.as_dict()))["failing_pairs"] == ["n8n-worker-2 / n8n-runners-2"]
    assert not Report("empty").ok


# --- the launcher, against a stand-in broker and a stand-in runner ------------------------------


class FakeBroker:
    """`GET /healthz` and `POST /runners/auth` as n8n's task broker answers them."""

    def __init__(self, token: str):
        self.token, self.grants = token, 0
        broker = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self._reply(200, {"status": "ok"})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if body.get("token") != broker.token:
                    return self._reply(403, {"message": "Unauthorized"})
                broker.grants += 1
                self._reply(200, {"data": {"token": f"grant-{broker.grants}"}})

            def _reply(self, status, payload):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.uri = f"http://127.0.0.1:{self.server.server_address[1]}"


def run_launcher(tmp_path, broker_token: str, pool_token: str, until) -> tuple:
    """Run the launcher against a stand-in broker until `until(runs, log)` holds (runs: one `.env` file per
    runner started), then ask its health check and stop it."""
    broker = FakeBroker(broker_token)
    runs = tmp_path / "runs"
    runs.mkdir()
    fake_node = tmp_path / "node"  # records its arguments and environment, then exits like a crashed runner
    fake_node.write_text(f"#!/bin/sh\nenv > {runs}/$$.env\necho \"$@\" > {runs}/$$.args\nexit 3\n")
    fake_node.chmod(0o755)
    health_port = str(free_ports(1)[0])
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "GENERIC_TIMEZONE": "Europe/Amsterdam",
           "N8N_RUNNERS_TASK_BROKER_URI": broker.uri, "N8N_RUNNERS_AUTH_TOKEN": pool_token,
           "N8N_RUNNERS_MAX_CONCURRENCY": "10", "N8N_RUNNERS_TASK_TIMEOUT": "300",
           "N8N_RUNNERS_LAUNCHER_HEALTH_CHECK_PORT": health_port}
    log = tmp_path / "launcher.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "rehearsal.launcher", "--node", str(fake_node),
                                 "--runner", "/opt/start.js", "--pool", "n8n-runners-1"], env=env, cwd=PROJECT,
                                stdout=out, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 20
        while not until(sorted(runs.glob("*.env")), log.read_text()):
            assert time.monotonic() < deadline and proc.poll() is None, log.read_text()
            time.sleep(0.05)
        with urllib.request.urlopen(f"http://127.0.0.1:{health_port}/healthz", timeout=5) as resp:
            health = (resp.status, json.load(resp))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        broker.server.shutdown()
    envs = [dict(line.split("=", 1) for line in p.read_text().splitlines() if "=" in line)
            for p in sorted(runs.glob("*.env"))]
    args = [p.read_text().split() for p in sorted(runs.glob("*.args"))]
    return health, envs, args, log.read_text()


def test_launcher_exchanges_the_auth_token_for_a_grant_starts_the_runner_and_restarts_it(tmp_path):
    health, envs, args, out = run_launcher(tmp_path, "right", "right", until=lambda runs, log: len(runs) >= 2)
    assert health == (200, {"status": "ok"})
    assert len(envs) >= 2 and "(start 2)" in out  # the runner exits; the launcher starts it again
    first = envs[0]
    assert first["N8N_RUNNERS_GRANT_TOKEN"].startswith("grant-") and first["N8N_RUNNERS_GRANT_TOKEN"] != "right"
    assert "N8N_RUNNERS_AUTH_TOKEN" not in first  # the runner only ever sees the single-use grant
    assert first["N8N_RUNNERS_ID"].startswith("n8n-runners-1-")
    assert first["GENERIC_TIMEZONE"] == "Europe/Amsterdam" and first["N8N_RUNNERS_MAX_CONCURRENCY"] == "10"
    assert first["NODE_FUNCTION_ALLOW_BUILTIN"] == "crypto"
    assert "N8N_RUNNERS_LAUNCHER_HEALTH_CHECK_PORT" not in first
    assert args[0] == ["--disallow-code-generation-from-strings", "--disable-proto=delete", "/opt/start.js"]
    assert len({e["N8N_RUNNERS_GRANT_TOKEN"] for e in envs}) == len(envs)


def test_launcher_with_a_wrong_token_never_starts_a_runner_and_stays_healthy_as_the_real_one(tmp_path):
    # The token never changes, so a later retry is refused like the first (the retry window: next test).
    health, envs, _, out = run_launcher(tmp_path, "right", "wrong", until=lambda runs, log: "refused" in log)
    assert envs == [] and health == (200, {"status": "ok"})  # n8n-io/task-runner-launcher reads no state
    assert "grant token refused" in out and "HTTP 403" in out


def test_launcher_gives_up_on_a_refused_token_after_its_retry_window(capsys):
    broker = FakeBroker("right")
    try:
        started = time.monotonic()
        assert launcher.grant_token_within(broker.uri, "wrong", "n8n-runners-1", limit=0.25, interval=0.05) is None
        assert 0.2 < time.monotonic() - started < 2
        assert capsys.readouterr().out.count("HTTP 403") >= 4  # every 0.05 s, for 0.25 s
        assert launcher.grant_token_within(broker.uri, "right", "n8n-runners-1", limit=0.5) == "grant-1"
    finally:
        broker.server.shutdown()


class ListedExecutions:
    """The public API's execution list, filtered by status as n8n filters it."""

    def __init__(self, executions: list[dict]):
        self.executions = executions

    def paged(self, path: str, status: str, **query):
        assert path == "/executions"
        return iter([e for e in self.executions if e["status"] == status])


def test_verify_lists_executions_running_or_new_for_longer_than_allowed():
    from datetime import datetime, timedelta

    from rehearsal.scenarios import check_unfinished

    ago = lambda minutes: (datetime.now(UTC) - timedelta(minutes=minutes)).isoformat()  # noqa: E731
    api = ListedExecutions([{"id": "7", "status": "running", "startedAt": ago(90), "workflowId": "w1"},
                            {"id": "8", "status": "running", "startedAt": ago(1), "workflowId": "w1"},
                            {"id": "9", "status": "new", "startedAt": ago(200), "workflowId": "w2"},
                            {"id": "10", "status": "crashed", "startedAt": ago(500), "workflowId": "w2"}])
    found = check_unfinished(api, 3600)
    assert not found.ok and found.detail == "2 stuck: 7 (running 90 min, workflow w1), 9 (new 200 min, workflow w2)"
    assert check_unfinished(ListedExecutions([]), 3600).ok


def test_a_stack_with_a_metrics_collector_plans_it_as_the_one_component_prometheus_plays():
    from platform_model.topology import COLLECTOR
    from rehearsal.deployment import METRICS_COLLECTOR
    from stack.loader import load_settings
    from stackrun import stack_config

    remote = {"observability": {"metrics": {"remote": {"endpoint": "https://prometheus.example.net/push"}}}}
    spec = offline_spec(load_settings(stack_config("prod", remote), "prod"))
    instances = plan_instances(spec, substitutions(False))
    assert [(i.name, i.role) for i in instances if i.role == METRICS_COLLECTOR] == [(COLLECTOR, METRICS_COLLECTOR)]


def test_runner_registrations_are_read_from_plain_and_json_logs():
    from rehearsal.rehearse import REGISTERED

    line = 'Registered runner "JS Task Runner" (n8n-runners-1-ab12) '
    for log in (line, json.dumps({"level": "info", "message": line})):  # N8N_LOG_FORMAT text or json
        assert REGISTERED.findall(log) == ["n8n-runners-1-ab12"]
