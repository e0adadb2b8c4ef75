"""A runner pool instance: our stand-in for the n8nio/runners image's launcher, running the JavaScript
task runner (`@n8n/task-runner`), the one the rehearsal exercises. The image also ships a Python runner;
the rehearsal does not run it.

    python -m rehearsal.launcher --node NODE --runner START_JS --pool NAME

It reads the pool's env exactly as the spec sets it and does what the official launcher does
(n8n-io/task-runner-launcher and the image's `n8n-task-runners.json`):
  1. wait until the broker at N8N_RUNNERS_TASK_BROKER_URI answers `GET /healthz`;
  2. exchange N8N_RUNNERS_AUTH_TOKEN for a single-use grant token: `POST /runners/auth {"token": ...}`;
  3. start the runner with the grant token, passing on only the variables the image's launcher allows,
     with its overrides, under the same Node.js flags;
  4. when the runner exits, start again from 2;
and serves the launcher health check `GET /healthz` on N8N_RUNNERS_LAUNCHER_HEALTH_CHECK_PORT.
One difference: the official launcher starts the runner on the first task offer and lets it idle out;
this one keeps a runner connected all the time (the broker sees the same runner either way).
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
RETRY_SECONDS = 2


class State:
    def __init__(self) -> None:
        self.runner: subprocess.Popen | None = None
        self.starts = 0
        self.last_error = ""
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


def serve_health(port: int, state: State) -> ThreadingHTTPServer:
    class Health(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/healthz":
                self.send_error(404)
                return
            running = state.runner is not None and state.runner.poll() is None
            body = json.dumps({"status": "ok", "runner": "running" if running else "starting",
                               "starts": state.starts, "lastError": state.last_error}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

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
    server = serve_health(int(env.get("N8N_RUNNERS_LAUNCHER_HEALTH_CHECK_PORT", "5680")), state)

    def on_signal(signum, _frame) -> None:
        state.stopping = True
        if state.runner is not None and state.runner.poll() is None:
            state.runner.send_signal(signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    log(args.pool, f"waiting for the task broker at {broker}")
    while not state.stopping:
        if not broker_ready(broker):
            time.sleep(0.5)
            continue
        try:
            token = grant_token(broker, auth_token)
        except (urllib.error.URLError, OSError, KeyError, ValueError) as err:
            detail = f"HTTP {err.code}" if isinstance(err, urllib.error.HTTPError) else str(err)
            state.last_error = f"grant token refused by {broker}: {detail}"
            log(args.pool, state.last_error)
            time.sleep(RETRY_SECONDS)
            continue
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
            state.last_error = f"runner {runner_id} exited with code {code}"
            log(args.pool, f"{state.last_error}; restarting")
            time.sleep(1)
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
