"""Before `pulumi up`: is this n8n version change allowed, and the restore point to come back to.

    python -m offline.upgrade prod --deployed 2.40.7 --cluster n8n-prod-pg
    python -m offline.upgrade prod --deployed "$(pulumi stack output n8n_version)" --cluster ... --markdown FILE

`--deployed` is the release the stack runs now (the `n8n_version` stack output; empty for a stack that
was never deployed or was deployed before that output existed). When `n8n.version` changes, the
restore point is now: DigitalOcean restores any moment of the last 7 days into a new cluster, so
recording the time before the change is the backup; the tool prints it and the exact commands that
bring a copy of the stack back on it with the old release pinned.

Exit codes: 0 go ahead (restore point printed when the version changes); 1 refused (a downgrade, or a
new major without upgrade.acknowledgeMajor); 2 invalid settings, unknown stack or a bad argument.
"""

from __future__ import annotations

import argparse
import sys
import time

from platform_model.upgrade import RESTORE_TIME_FORMAT, VersionChange, release, restore_command
from settings.model import Settings, SettingsError
from stack.loader import load_stack

from .arguments import output_file


def deployed_release(text: str) -> str | None:
    """The --deployed value: a pinned release, or None when nothing (known) is deployed."""
    if not text.strip():
        return None
    try:
        release(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text.strip()


def restore_point(s: Settings, change: VersionChange, cluster: str, at: str) -> str:
    was = change.deployed or "<the release it runs now>"  # a stack deployed before n8n_version was exported
    return "\n".join([
        f"Restore point for stack {s.stack}: {at} (before n8n {change.deployed or '?'} -> {change.target}).",
        f"PostgreSQL cluster {cluster} can be restored to this moment for 7 days. If the upgrade fails, bring a "
        f"copy of the stack back on it with n8n {was}:",
        "",
        restore_command(s.stack, cluster, at, was),
        "",
        "Then verify the copy (python -m rehearsal.verify --url <its URL>) and move the domain (docs/upgrades.md).",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m offline.upgrade", description=__doc__.split("\n\n")[0])
    parser.add_argument("stack", help="stack name: reads Pulumi.<stack>.yaml")
    parser.add_argument("--deployed", type=deployed_release, default=None, metavar="VERSION",
                        help="the n8n release the stack runs now (`pulumi stack output n8n_version`); empty: none")
    parser.add_argument("--cluster", required=True, help="the stack's PostgreSQL cluster (`pulumi stack output "
                                                         "postgres_cluster`)")
    parser.add_argument("--markdown", metavar="FILE", type=output_file, help="also append the result to FILE "
                                                                             "(e.g. $GITHUB_STEP_SUMMARY)")
    args = parser.parse_args(argv)
    try:
        stack_file, s = load_stack(args.stack)
    except SettingsError as err:
        print(err, file=sys.stderr)
        return 2
    change = VersionChange(args.deployed, s.n8n.version)
    problems = change.problems(s.upgrade.acknowledge_major, stack_file.source)
    if problems:
        text, code = "\n".join(f"refused: {p}" for p in problems), 1
    elif change.changes or args.deployed is None:
        text, code = restore_point(s, change, args.cluster, time.strftime(RESTORE_TIME_FORMAT, time.gmtime())), 0
    else:
        text, code = f"n8n.version {s.n8n.version} is what stack {s.stack} runs: no version change.", 0
    print(text, file=sys.stderr if code else sys.stdout)
    if args.markdown:
        with open(args.markdown, "a") as fh:
            fh.write(f"### n8n version change\n\n```\n{text}\n```\n")
    return code


if __name__ == "__main__":
    sys.exit(main())
