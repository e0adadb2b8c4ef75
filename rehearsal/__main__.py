"""python -m rehearsal <stack> [options]: run a stack's App spec on this machine and check it.

Exit codes: 0 every check passed; 1 a check failed (the report names the failing worker pair);
2 invalid settings, unknown stack or a bad argument.
"""

from __future__ import annotations

import argparse
import signal
import sys

from offline.arguments import number, output_file, whole_number
from settings.model import SettingsError

from .deployment import RehearsalError
from .drills import DEFAULT_SETTLE_SECONDS, DRILLS, drill_names, rehearse_drills
from .n8n_api import ApiError
from .rehearse import OWNER_EMAIL, Options, rehearse, running
from .restore_drill import DEFAULT_EXECUTIONS, drill
from .scenarios import MAX_LOAD_CONCURRENCY, MAX_LOAD_REQUESTS, MAX_REQUEST_TIMEOUT_SECONDS, Report
from .services import ServiceError
from .upgrade import UpgradeOptions, UpgradeRefusedError, rehearse_upgrade

MIN_UPGRADE_EXECUTIONS = 1000  # the upgrade rehearsal seeds at least this many (docs/upgrades.md)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rehearsal", description=__doc__.split("\n\n")[0])
    parser.add_argument("stack", help="stack name: reads Pulumi.<stack>.yaml")
    parser.add_argument("--offload", choices=("on", "off"),
                        help="override n8n.offloadManualExecutions (off: main gets its own broker and runner pool)")
    parser.add_argument("--pool", action="store_true",
                        help="connect n8n through a PgBouncer pool in transaction mode (overrides "
                             "postgres.connectionPool.mode), as DigitalOcean's connection pools")
    parser.add_argument("--negative-control", action="store_true",
                        help="give the last pair's runner pool a wrong token: the run must fail, naming that pair")
    parser.add_argument("--skip-db-grants", action="store_true",
                        help="do not run the pre-deploy job n8n-db-grants (main's migrations then fail)")
    parser.add_argument("--load", type=whole_number(0, MAX_LOAD_REQUESTS), default=300, metavar="N",
                        help="webhook executions in the load run (0: none)")
    parser.add_argument("--concurrency", type=whole_number(1, MAX_LOAD_CONCURRENCY), default=8,
                        help="concurrent requests in the load run")
    parser.add_argument("--timeout", type=number(0.1, MAX_REQUEST_TIMEOUT_SECONDS), default=30,
                        help="per-request timeout of the load run, seconds")
    parser.add_argument("--upgrade-from", metavar="VERSION",
                        help="rehearse the upgrade from this older n8n release to the stack's n8n.version, with seeded "
                             "data, a refused downgrade and the way back (docs/upgrades.md)")
    parser.add_argument("--executions", type=whole_number(1, MAX_LOAD_REQUESTS), default=DEFAULT_EXECUTIONS,
                        metavar="N", help="with --upgrade-from: executions seeded on the old release (at least "
                        f"{MIN_UPGRADE_EXECUTIONS}); with --restore-drill: executions seeded before the backup")
    parser.add_argument("--report-json", metavar="FILE", type=output_file, help="also write the report as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the run directory (logs, configs)")
    parser.add_argument("--serve", action="store_true",
                        help="start the topology, print its URL, owner login and API key, and keep it up until "
                             "Ctrl-C (to open the editor or try `python -m rehearsal.verify` against it)")
    parser.add_argument("--restore-drill", action="store_true",
                        help="back up with the backup worker's own command, restore into a fresh PostgreSQL, check "
                             "n8n on it, and once more with a wrong encryption key (docs/backups.md)")
    parser.add_argument("--drills", nargs="?", const=list(DRILLS), type=drill_names, metavar="NAME,...",
                        help=f"run the fault drills (all, or the named ones: {', '.join(DRILLS)}) instead of the "
                             "checklist; see docs/self-healing.md")
    parser.add_argument("--settle", type=number(0, 3600), default=DEFAULT_SETTLE_SECONDS, metavar="SECONDS",
                        help="with --drills: how long after the last fault to count unfinished executions")
    args = parser.parse_args(argv)
    if args.upgrade_from and args.executions < MIN_UPGRADE_EXECUTIONS:
        parser.error(f"argument --executions: with --upgrade-from it must be at least {MIN_UPGRADE_EXECUTIONS}, "
                     f"got {args.executions}")
    opts = Options(args.stack, offload=None if args.offload is None else args.offload == "on", pool=args.pool,
                   negative_control=args.negative_control, skip_db_grants=args.skip_db_grants,
                   load_requests=args.load, load_concurrency=args.concurrency, load_timeout=args.timeout,
                   keep_run_dir=args.keep)
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    try:
        if args.upgrade_from:
            report = rehearse_upgrade(UpgradeOptions(args.stack, args.upgrade_from, args.executions, args.keep), log)
            return report.emit(args.report_json)
        if args.serve:
            return serve(opts, log)
        if args.restore_drill:
            return drill(args.stack, args.executions, log=log).emit(args.report_json)
        if args.drills is not None:
            return rehearse_drills(opts, args.drills, args.settle, log).emit(args.report_json)
        report = rehearse(opts, log=log)
    except (SettingsError, UpgradeRefusedError) as err:
        print(err, file=sys.stderr)
        return 2
    return report.emit(args.report_json)


def serve(opts: Options, log) -> int:
    report = Report(f"serving stack {opts.stack}")

    def stop(signum, _frame):
        raise KeyboardInterrupt

    # Both, explicitly: a shell starts background jobs with SIGINT ignored, and Python keeps that.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        with running(opts, report, log) as run:
            print(f"n8n:      {run.target.url}\nowner:    {OWNER_EMAIL} / {run.owner_password}\n"
                  f"API key:  {run.api_key}\n\nverify:   N8N_API_KEY={run.api_key} "
                  f"python -m rehearsal.verify --url {run.target.url}\nCtrl-C stops everything.", flush=True)
            while True:
                signal.pause()
    except KeyboardInterrupt:
        return 0
    except (RehearsalError, ApiError, ServiceError) as err:
        print(f"could not start: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
