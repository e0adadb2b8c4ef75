"""The restore drill (`python -m rehearsal <stack> --restore-drill`): prove that a backup taken by the
backup worker's own command restores into a working n8n, and only with the right encryption key.

1. Start the stack's topology (as the rehearsal does); seed n8n through its public API: a credential
   (HTTP header auth) and a workflow that uses it against a local endpoint that checks the header, an
   active hourly schedule, and a webhook workflow called until n8n holds >= `executions` executions.
2. Back up with the backup worker's `BACKUP_COMMAND`, exactly as the spec renders it, with the worker's
   env (bindings and secrets filled in as the rehearsal fills them; the bucket's server is the local S3
   server and the recipient the drill's own age key) into a local S3 server (moto). Stop everything:
   PostgreSQL's data directory is deleted with the run.
3. Start a fresh PostgreSQL, run the pre-deploy job, restore with `RESTORE_COMMAND` (rclone | age | pg_restore
   as n8n's own user), start the stack's n8n with the same encryption key and check: the workflows, the
   schedule still active, the execution history, the credential (its workflow runs and the endpoint sees
   the header), and that the restored owner's API key still works.
4. Negative control: the same restore with a different encryption key must not give the data back: n8n
   2.41.1 refuses to start (it cannot read its own encrypted deployment keys); a version that started
   anyway would have to fail the credential's workflow with its decryption error.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from builders.backup_spec import RESTORE_COMMAND
from builders.names import backup_bucket
from platform_model.topology import DB_NAME, DB_USER

from . import scenarios
from .backup_store import LocalS3, dumps
from .deployment import BACKUP, RehearsalError
from .n8n_api import ApiError, PublicApi, request
from .pki import LOOPBACK_HOST, LOOPBACK_IP, Pki
from .rehearse import Options, running, stack_settings
from .scenarios import Check
from .services import Postgres, ServiceError, free_ports, strong_secret

HEADER = "X-Drill-Key"
NAMES = {"credential": "drill: endpoint key", "uses": "drill: calls the endpoint", "schedule": "drill: hourly",
         "load": "drill: webhook"}
DEFAULT_EXECUTIONS = 1000


def _node(name, type_, version, x, parameters, **extra):
    return {"id": name.replace(" ", "-"), "name": name, "type": type_, "typeVersion": version,
            "position": [x * 220, 0], "parameters": parameters, **extra}


def _hook(path: str) -> dict:
    return _node("Webhook", "n8n-nodes-base.webhook", 2, 0,
                 {"httpMethod": "POST", "path": path, "responseMode": "lastNode", "options": {}}, webhookId=path)


def _chain(name: str, first: dict, second: dict) -> dict:
    return {"name": name, "nodes": [first, second], "settings": {"executionOrder": "v1"},
            "connections": {first["name"]: {"main": [[{"node": second["name"], "type": "main", "index": 0}]]}}}


class Endpoint:
    """A local HTTP endpoint that answers 200 only with the drill's header value: what the credential is for."""

    def __init__(self, secret: str):
        self.seen = 0
        drill = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                ok = self.headers.get(HEADER) == secret
                drill.seen += ok
                body = json.dumps({"authorised": ok}).encode()
                self.send_response(200 if ok else 401)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((LOOPBACK_IP, free_ports(1)[0]), Handler)
        self.url = f"http://{LOOPBACK_IP}:{self.server.server_address[1]}/check"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()


def seed(api: PublicApi, endpoint: Endpoint, secret: str) -> dict[str, str]:
    """The credential and three workflows; returns their ids by role."""
    cred = api.call("POST", "/credentials", {"name": NAMES["credential"], "type": "httpHeaderAuth",
                                             "data": {"name": HEADER, "value": secret}})
    call = _node("Call endpoint", "n8n-nodes-base.httpRequest", 4.2, 1,
                 {"url": endpoint.url, "authentication": "genericCredentialType", "genericAuthType": "httpHeaderAuth",
                  "options": {}},
                 credentials={"httpHeaderAuth": {"id": cred["id"], "name": NAMES["credential"]}})
    noop = _node("Done", "n8n-nodes-base.noOp", 1, 1, {})
    hourly = _node("Hourly", "n8n-nodes-base.scheduleTrigger", 1.2, 0,
                   {"rule": {"interval": [{"field": "hours", "hoursInterval": 1}]}})
    ids = {"credential": cred["id"]}
    for role, wf in (("uses", _chain(NAMES["uses"], _hook("drill-credential"), call)),
                     ("schedule", _chain(NAMES["schedule"], hourly, noop)),
                     ("load", _chain(NAMES["load"], _hook("drill-load"), noop))):
        ids[role] = api.create_workflow(wf)["id"]
        api.activate(ids[role])
    return ids


def call_hook(webhook_base: str, path: str, timeout: float = 30) -> tuple[bool, str]:
    try:
        status, _, body = request("POST", f"{webhook_base}/webhook/{path}", {}, timeout=timeout)
        return 200 <= status < 300, json.dumps(body)[:200]
    except ApiError as err:
        return False, str(err)[:300]


def execution_count(api: PublicApi) -> int:
    return sum(1 for _ in api.paged("/executions"))


def fire(webhook_base: str, path: str, total: int, concurrency: int = 8) -> int:
    with ThreadPoolExecutor(concurrency) as pool:
        return sum(ok for ok, _ in pool.map(lambda _: call_hook(webhook_base, path), range(total)))


def make_age_key(directory: Path) -> tuple[Path, str]:
    identity = directory / "backup.key"
    subprocess.run(["age-keygen", "-o", str(identity)], check=True, capture_output=True)
    public = next(line.split(": ", 1)[1] for line in identity.read_text().splitlines()
                  if line.startswith("# public key: "))
    return identity, public


def restorer(s3: LocalS3, bucket: str, obj: str, identity: Path, timings: dict, label: str) -> Callable:
    """Restore `obj` with RESTORE_COMMAND as n8n's own user into the fresh cluster (after the grants job)."""

    def restore(pg: Postgres, pki: Pki) -> None:
        env = {"PATH": "/usr/bin:/bin", **s3.env, "BACKUP_BUCKET": bucket, "BACKUP_OBJECT": obj,
               "BACKUP_AGE_IDENTITY": str(identity), "PGHOST": LOOPBACK_HOST, "PGPORT": str(pg.port),
               "PGDATABASE": DB_NAME, "PGUSER": DB_USER, "PGPASSWORD": pg.n8n_password, "PGSSLMODE": "verify-full",
               "PGSSLROOTCERT": str(pki.ca_cert)}
        t = time.monotonic()
        done = subprocess.run(["bash", "-c", RESTORE_COMMAND], env=env, capture_output=True, text=True, timeout=600)
        timings[label] = round(time.monotonic() - t, 1)
        if done.returncode != 0:
            raise RehearsalError(f"restore failed (exit {done.returncode}): {done.stderr.strip()[-400:]}")

    return restore


def back_up(run, s3: LocalS3, recipient: str) -> subprocess.CompletedProcess:
    """The backup worker's own command with the worker's own env (as the rehearsal fills it in)."""
    [worker] = run.deployment.of_role(BACKUP)
    env = {**run.deployment.process_env(worker), **s3.env, "BACKUP_AGE_RECIPIENT": recipient}
    return subprocess.run(["bash", "-c", worker.spec_env["BACKUP_COMMAND"]], env=env, capture_output=True,
                          text=True, timeout=600)


def drill(stack: str, executions: int = DEFAULT_EXECUTIONS, log=print) -> scenarios.Report:
    report = scenarios.Report(f"Restore drill of stack {stack}")
    settings = stack_settings(stack, None)
    if settings.backups is None:
        report.checks.append(scenarios.Check("stack has backups", False, f"Pulumi.{stack}.yaml sets no `backups`"))
        return report
    checks, timings = report.checks, report.timings
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="n8n-restore-drill-"))
    s3 = LocalS3(work / "s3")
    secret = strong_secret()
    endpoint = Endpoint(secret)
    try:
        bucket = backup_bucket(settings)
        s3.create_bucket(bucket)
        identity, recipient = make_age_key(work)
        with running(Options(stack, load_requests=0), report, log) as run:
            api, hooks = run.target.api, run.target.webhook_url
            ids = seed(api, endpoint, secret)
            ok, detail = call_hook(hooks, "drill-credential")
            checks.append(Check("before: the credential's workflow runs", ok and endpoint.seen == 1, detail))
            t = time.monotonic()
            fired = fire(hooks, "drill-load", executions)
            timings[f"seed {executions} webhook executions"] = round(time.monotonic() - t, 1)
            time.sleep(2)  # the last executions finish on the workers
            before = execution_count(api)
            checks.append(Check("seeded", fired == executions and before >= executions,
                                f"{fired}/{executions} webhook calls answered; n8n holds {before} executions"))
            key = run.deployment.main.spec_env["N8N_ENCRYPTION_KEY"]
            login = (run.owner_password, run.api_key)
            t = time.monotonic()
            done = back_up(run, s3, recipient)
            timings["backup (pg_dump | age | rclone)"] = round(time.monotonic() - t, 1)
            checks.append(Check("backup with the worker's BACKUP_COMMAND", done.returncode == 0,
                                (done.stdout.strip() or done.stderr.strip())[-300:]))
            if done.returncode != 0:
                return report
        [dump] = dumps(s3.env, bucket)
        report.notes.append(f"backup {dump.name}: {dump.size:,} bytes encrypted, {before} executions; "
                            "the first topology and its PostgreSQL were then stopped and deleted")
        head = subprocess.run(["rclone", "cat", "--count", "64", f":s3:{bucket}/{dump.name}"],
                              env={"PATH": "/usr/bin:/bin", **s3.env}, capture_output=True, check=True).stdout
        checks.append(Check("the dump is encrypted", head.startswith(b"age-encryption.org/v1"),
                            "an age file: useless to whoever holds only the bucket's keys"))

        restore = restorer(s3, bucket, dump.name, identity, timings, "restore (rclone | age | pg_restore)")
        endpoint.seen = 0
        with running(Options(stack, load_requests=0, secrets={"encryptionKey": key}, restore=restore, login=login),
                     report, log) as run:
            checks.extend(after_restore(run.target.api, run.target.webhook_url, ids, before, endpoint))
        restore = restorer(s3, bucket, dump.name, identity, timings, "restore for the negative control")
        endpoint.seen = 0
        try:
            with running(Options(stack, load_requests=0, secrets={"encryptionKey": strong_secret()}, restore=restore,
                                 login=login), report, log) as run:
                checks.append(wrong_key(run.target.api, run.target.webhook_url, ids, endpoint))
        except RehearsalError as err:
            checks.append(refused_at_start(str(err)))
    except (RehearsalError, ApiError, ServiceError) as err:
        checks.append(Check("drill runs", False, str(err)))
    finally:
        endpoint.stop()
        s3.stop()
        timings["total"] = round(time.monotonic() - started, 1)
    return report


def after_restore(api: PublicApi, hooks: str, ids: dict, before: int, endpoint: Endpoint) -> list[scenarios.Check]:
    workflows = {w["id"]: w for w in api.workflows()}
    found = [role for role in ("uses", "schedule", "load") if ids[role] in workflows]
    checks = [Check("restored: the API key of the restored owner works", True, "public API answered"),
              Check("restored: workflows", len(found) == 3, f"{len(found)}/3 seeded workflows, by id")]
    schedule = workflows.get(ids["schedule"], {})
    checks.append(Check("restored: the schedule is active", schedule.get("active") is True,
                        f"{NAMES['schedule']} active={schedule.get('active')}"))
    after = execution_count(api)
    checks.append(Check("restored: execution history", after >= before, f"{after} executions (backed up: {before})"))
    ok, detail = call_hook(hooks, "drill-credential")
    checks.append(Check("restored: the credential decrypts (its workflow runs)", ok and endpoint.seen == 1,
                        f"{detail}; endpoint saw the right header {endpoint.seen} time(s)"))
    return checks


# n8n 2.41.1 keeps its own deployment keys encrypted with the instance key and refuses to start when it
# cannot read them (seen in this drill: "Deployment key 'signing.hmac' cannot be read with this instance
# encryption key"), before any credential is used.
WRONG_KEY_AT_START = "cannot be read with this instance encryption key"
NEGATIVE = "negative control: another encryption key cannot use the restored data"


def refused_at_start(error: str) -> scenarios.Check:
    line = next((ln.strip() for ln in error.splitlines() if WRONG_KEY_AT_START in ln), "")
    return scenarios.Check(NEGATIVE, bool(line), f"n8n refused to start: {line}" if line else error[-300:])


def wrong_key(api: PublicApi, hooks: str, ids: dict, endpoint: Endpoint) -> scenarios.Check:
    ok, detail = call_hook(hooks, "drill-credential")
    errors = [e for e in api.executions(ids["uses"], include_data=True) if e.get("status") == "error"]
    message = json.dumps(errors[0].get("data", {}).get("resultData", {}).get("error", {}))[:300] if errors else ""
    decrypt = "decrypt" in message.lower() or "encryption" in message.lower()
    return scenarios.Check(NEGATIVE, not ok and endpoint.seen == 0 and decrypt,
                           f"webhook: {detail[:120]}; execution error: {message or 'none recorded'}")
