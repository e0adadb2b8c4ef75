"""python -m rehearsal.verify --url URL [--api-key KEY]: the checklist against a live deployment.

    N8N_API_KEY=... python -m rehearsal.verify --url https://n8n.example.com

Uses n8n's public API with an API key (Settings → n8n API → Create an API key; or `--api-key`):
  * health: main's /healthz and /healthz/readiness through the app's URL (workers, brokers and runner
    pools have no public address: App Platform's health checks watch them);
  * webhook → queue → worker → Code node → response: a temporary workflow, activated, called
    `--calls` times, every execution read back;
  * schedule-triggered Code node: a temporary workflow on a 10-second schedule, until one run finished;
  * manual execution as the editor runs it — only with `--editor-email` and the password in
    N8N_EDITOR_PASSWORD (the public API cannot start manual runs);
  * executions still `running` or `new` after `--stuck-after` seconds (default n8n's longest allowed
    workflow timeout), listed through the public API: what an incident leaves behind;
  * optionally a bounded load run (`--load N`; off by default on a live deployment);
  * with `--backups FILE` (`pulumi stack output backup_reader --show-secrets > FILE`: the bucket, its
    endpoint and a key that can only read it), the age of the newest dump in the backup bucket, read with
    rclone as the backup worker writes it; it fails past `--backup-max-age-hours`.
Temporary workflows are named "n8n-platform check ..." and deleted when each check ends, on Ctrl-C
and SIGTERM too; leftovers of a killed run are deleted at the start of the next one.

Exit codes: 0 every check passed, 1 a check failed, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from urllib.parse import urlsplit

from offline.arguments import number, output_file, whole_number

from . import scenarios
from .backup_store import newest_backup_check, rclone_env
from .n8n_api import ApiError, EditorSession, PublicApi


def verify(url: str, api_key: str, calls: int = 6, editor: EditorSession | None = None, load: int = 0,
           concurrency: int = 8, timeout: float = 30,
           stuck_after: float = scenarios.MAX_EXECUTION_TIMEOUT_SECONDS, backups: dict | None = None,
           backup_max_age_hours: float = 24) -> scenarios.Report:
    url = url.rstrip("/")
    report = scenarios.Report(f"Verification of {url}")
    api = PublicApi(url, api_key)
    target = scenarios.Target(url, api, url, editor)
    try:
        removed = scenarios.delete_leftovers(api)
    except ApiError as err:
        hint = " (is the API key right?)" if err.status in (401, 403) else ""
        report.checks.append(scenarios.Check("public API reachable", False, f"{err}{hint}"))
        return report
    if removed:
        report.notes.append(f"deleted {len(removed)} temporary workflow(s) an earlier run left behind")
    report.checks += scenarios.guarded("health", scenarios.check_health, target)
    report.notes.append("workers, task brokers and runner pools have no public address: App Platform's health "
                        "checks watch them, and which pair served an execution is not visible from outside "
                        "(rehearse the stack to see both)")
    report.checks += scenarios.guarded("webhook round trips", scenarios.check_webhook_pairs, target, 1, calls)
    if editor is None:
        report.notes.append("manual execution not checked: it needs an editor login (--editor-email), as "
                            "n8n's public API cannot start manual runs")
    else:
        report.checks += scenarios.guarded("manual execution", scenarios.check_manual, target)
    report.checks += scenarios.guarded("schedule-triggered Code node", scenarios.check_schedule, target)
    report.checks += scenarios.guarded("executions left running", scenarios.check_unfinished, api, stuck_after)
    if load:
        result = scenarios.run_load(target, load, concurrency, timeout)
        report.load = result
        report.checks.append(scenarios.load_check(result))
    left = [w["name"] for w in api.workflows() if w["name"].startswith(scenarios.TEMP_PREFIX)]
    report.checks.append(scenarios.Check("no temporary workflow left behind", not left,
                                         f"{len(left)} left: {left}" if left else "all deleted"))
    if backups is not None:
        env = rclone_env(backups["endpoint"], backups["access_key"], backups["secret_key"])
        report.checks.append(newest_backup_check(env, backups["bucket"], backup_max_age_hours))
    return report


BACKUP_READER_KEYS = ("bucket", "endpoint", "access_key", "secret_key")


def backup_reader(path: str) -> dict:
    """The stack's `backup_reader` output, as `pulumi stack output backup_reader --show-secrets` writes it."""
    try:
        with open(path) as fh:
            data = json.load(fh)
    except (OSError, json.JSONDecodeError) as err:
        raise argparse.ArgumentTypeError(f"cannot read {path}: {err}") from None
    missing = [k for k in BACKUP_READER_KEYS if not isinstance(data, dict) or not data.get(k)]
    if missing:
        raise argparse.ArgumentTypeError(f"{path} lacks {', '.join(missing)}: write it with `pulumi stack output "
                                         "backup_reader --show-secrets > FILE` on a stack with backups")
    return data


def app_url(text: str) -> str:
    """The app's base URL. An invalid one is echoed without anything before an `@` (it may be a password)."""
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        parts = None
    if (parts is None or parts.scheme not in ("https", "http") or not parts.hostname or "@" in parts.netloc
            or any(c.isspace() for c in text)):
        raise argparse.ArgumentTypeError("must be the app's URL, without credentials, e.g. https://n8n.example.com "
                                         f"(got {text.rsplit('@', 1)[-1]!r})")
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rehearsal.verify", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, type=app_url, help="the app's URL, e.g. https://n8n.example.com")
    parser.add_argument("--api-key", default=os.environ.get("N8N_API_KEY"),
                        help="n8n API key (default: $N8N_API_KEY)")
    parser.add_argument("--calls", type=whole_number(1, 1000), default=6, help="webhook calls in the round-trip check")
    parser.add_argument("--editor-email", help="an owner's e-mail; password in $N8N_EDITOR_PASSWORD (manual run)")
    parser.add_argument("--load", type=whole_number(0, scenarios.MAX_LOAD_REQUESTS), default=0, metavar="N",
                        help="webhook executions in a load run")
    parser.add_argument("--concurrency", type=whole_number(1, scenarios.MAX_LOAD_CONCURRENCY), default=8)
    parser.add_argument("--timeout", type=number(0.1, scenarios.MAX_REQUEST_TIMEOUT_SECONDS), default=30,
                        help="per-request timeout of the load run")
    parser.add_argument("--stuck-after", type=number(1, 30 * 86400), default=scenarios.MAX_EXECUTION_TIMEOUT_SECONDS,
                        metavar="SECONDS", help="report executions running or new for longer than this (default: "
                        "n8n's EXECUTIONS_TIMEOUT_MAX, 3600)")
    parser.add_argument("--backups", metavar="FILE", type=backup_reader,
                        help="the stack's backup_reader output (JSON): also report the newest backup's age")
    parser.add_argument("--backup-max-age-hours", type=number(0.1, 24 * 365), default=24,
                        help="the newest backup may be this old (default 24; at least backups.schedule)")
    parser.add_argument("--report-json", metavar="FILE", type=output_file)
    args = parser.parse_args(argv)
    if not args.api_key:
        parser.error("an API key is needed: --api-key or $N8N_API_KEY")
    editor = None
    if args.editor_email:
        password = os.environ.get("N8N_EDITOR_PASSWORD")
        if not password:
            parser.error("--editor-email needs the password in $N8N_EDITOR_PASSWORD")
        editor = EditorSession(args.url.rstrip("/"))
        try:
            editor.login(args.editor_email, password)
        except ApiError as err:
            print(f"editor login failed: {err}", file=sys.stderr)
            return 1
    def interrupt(signum, _frame):
        raise scenarios.Interrupted(signal.Signals(signum).name)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, interrupt)
    try:
        report = verify(args.url, args.api_key, args.calls, editor, args.load, args.concurrency, args.timeout,
                        args.stuck_after, args.backups, args.backup_max_age_hours)
    except scenarios.Interrupted as sig:
        print(f"interrupted by {sig}", file=sys.stderr)
        return 130
    return report.emit(args.report_json)


if __name__ == "__main__":
    sys.exit(main())
