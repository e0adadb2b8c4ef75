"""A runner pool instance: our stand-in for the n8nio/runners image's launcher, running the JavaScript
task runner (`@n8n/task-runner`), the one the rehearsal exercises. The image also ships a Python runner;
the rehearsal does not run it.

    python -m rehearsal.launcher --node NODE --runner START_JS --pool NAME

It reads the pool's env exactly as the spec sets it and does what the official launcher does
(n8n-io/task-runner-launcher 1.4.3, the version n8n's runners image pins; read at commit 1b19d482,
`internal/commands/launch.go`, `internal/http/*.go`, `internal/retry/retry.go`):
  1. wait until the broker at N8N_RUNNERS_TASK_BROKER_URI answers `GET /healthz`, asking every 5 s for
     as long as it takes;
  2. exchange N8N_RUNNERS_AUTH_TOKEN for a single-use grant token, `POST /runners/auth {"token": ...}`,
     retrying every 5 s for at most 60 s; when every attempt is refused (a wrong token) the launcher
     gives up and exits with status 0, and the platform starts the container again;
  3. start the runner with the grant token, passing on only the variables the image's launcher allows,
     with its overrides, under the same Node.js flags;
  4. when the runner exits, start again from 1;
and serves `GET /healthz` on N8N_RUNNERS_LAUNCHER_HEALTH_CHECK_PORT, which, like the official one
(`internal/http/healthcheck_server.go`), always answers 200 `{"status":"ok"}`: it reads no state, so it
passes while the broker refuses the token or no runner exists.
One difference: the official launcher registers with the broker over a WebSocket and starts the runner
only when a task needs one (letting it idle out after N8N_RUNNERS_AUTO_SHUTDOWN_TIMEOUT); this one keeps
a runner connected all the time, so the broker's log names the pool's runner before any task runs.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# From the n8nio/runners image's n8n-task-runners.json, JavaScript runner entry.
NODE_FLAGS = ("--disallow-code-generation-from-strings", "--disable-proto=delete")
ALLOWED_ENV = ("PATH", "GENERIC_TIMEZONE", "NODE_OPTIONS", "NODE_PATH", "N8N_RUNNERS_AUTO_SHUTDOWN_TIMEOUT",
               "N8N_RUNNERS_GRACEFUL_SHUTDOWN_TIMEOUT", "N8N_RUNNERS_TASK_TIMEOUT", "N8N_RUNNERS_MAX_CONCURRENCY",
               "N8N_SENTRY_DSN", "N8N_VERSION", "ENVIRONMENT", "DEPLOYMENT_NAME", "HOME")
ENV_OVERRIDES = {"NODE_FUNCTION_ALLOW_BUILTIN": "crypto", "NODE_FUNCTION_ALLOW_EXTERNAL": "moment"}
# launch.go / retry.go: broker health every 5 s without limit; grant token every 5 s, at most 60 s.
RETRY_SECONDS = 5
GRANT_TOKEN_LIMIT_SECONDS = 60


class State:
    def __init__(self) -> None:
        self.runner: subprocess.Popen | None = None
        self.starts = 0
        self.stopping = False


def log(pool: str, message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} [launcher {pool}] {message}", flush=True)


def grant_token(broker: str, auth_token: str) -> str:
    request = urllib.request.Request(f"{broker}/runners/auth", data=json.dumps({"token": auth_token}).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.load(resp)["data"]["token"]


def broker_ready(broker: str) -> bool:
    try:
        with urllib.request.urlopen(f"{broker}/healthz", timeout=3) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def grant_token_within(broker: str, auth_token: str, pool: str, limit: float = GRANT_TOKEN_LIMIT_SECONDS,
                       interval: float = RETRY_SECONDS) -> str | None:
    """A grant token, or None when the broker refused every attempt for `limit` seconds."""
    deadline = time.monotonic() + limit
    while True:
        try:
            return grant_token(broker, auth_token)
        except (urllib.error.URLError, OSError, KeyError, ValueError) as err:
            detail = f"HTTP {err.code}" if isinstance(err, urllib.error.HTTPError) else str(err)
            log(pool, f"grant token refused by {broker}: {detail}")
        if time.monotonic() + interval > deadline:
            return None
        time.sleep(interval)


def serve_health(port: int) -> ThreadingHTTPServer:
    class Health(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/healthz":
                self.send_error(404)
                return
            body = b'{"status":"ok"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            self.send_error(405)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("0.0.0.0", port), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rehearsal.launcher")
    parser.add_argument("--node", required=True)
    parser.add_argument("--runner", required=True, help="path of @n8n/task-runner/dist/start.js")
    parser.add_argument("--pool", required=True, help="pool instance name; prefixes the runner ids")
    args = parser.parse_args(argv)
    env = os.environ
    broker = env["N8N_RUNNERS_TASK_BROKER_URI"].rstrip("/")
    auth_token = env["N8N_RUNNERS_AUTH_TOKEN"]
    state = State()
    server = serve_health(int(env.get("N8N_RUNNERS_LAUNCHER_HEALTH_CHECK_PORT", "5680")))

    def on_signal(signum, _frame) -> None:
        state.stopping = True
        if state.runner is not None and state.runner.poll() is None:
            state.runner.send_signal(signum)
        else:  # nothing to hand the signal to: stop now, even mid-way through the grant-token retries
            raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    log(args.pool, f"waiting for the task broker at {broker}")
    while not state.stopping:
        if not broker_ready(broker):
            time.sleep(RETRY_SECONDS)
            continue
        token = grant_token_within(broker, auth_token, args.pool)
        if token is None:
            log(args.pool, "failed to fetch a grant token: exhausted retries; exiting")
            break
        runner_id = f"{args.pool}-{secrets.token_hex(4)}"
        child_env = {k: env[k] for k in ALLOWED_ENV if k in env}
        child_env.update(ENV_OVERRIDES)
        child_env.update(N8N_RUNNERS_TASK_BROKER_URI=broker, N8N_RUNNERS_GRANT_TOKEN=token,
                         N8N_RUNNERS_ID=runner_id)
        state.starts += 1
        log(args.pool, f"starting runner {runner_id} (start {state.starts})")
        state.runner = subprocess.Popen([args.node, *NODE_FLAGS, args.runner], env=child_env,
                                        cwd=env.get("HOME") or None)
        code = state.runner.wait()
        if not state.stopping:
            log(args.pool, f"runner {runner_id} exited with code {code}; restarting")
            time.sleep(1)
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
