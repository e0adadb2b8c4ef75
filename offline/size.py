"""Propose worker pairs, instance sizes and database sizes for a load, with the monthly cost.

    python -m offline.size --per-minute 600 --seconds 2 --code-share 0.5
    python -m offline.size --per-minute 600 --seconds 2 --code-share 0.5 --stack prod   # keep prod's other settings

Prints the settings to put in `Pulumi.<stack>.yaml` (stdout, YAML), then why and what it costs (stderr).
Exit codes: 0 proposed, 2 a target no stack here carries, bad input, or invalid base stack.
"""

from __future__ import annotations

import argparse
import sys

import yaml

from offline.arguments import number
from offline.sizing import SizingError, Workload, propose
from settings.model import NAMESPACE, SettingsError
from stack.loader import load_stack

# Beyond these no single stack helps (20 worker pairs carry at most 100 executions a second); they bound
# the arithmetic so `inf` or 1e308 is a usage error, not an overflow.
MAX_PER_MINUTE = 1_000_000
MAX_SECONDS = 86_400


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m offline.size", description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-minute", type=number(0, MAX_PER_MINUTE), required=True,
                        help="production executions per minute")
    parser.add_argument("--seconds", type=number(0, MAX_SECONDS), required=True,
                        help="average execution time in seconds")
    parser.add_argument("--code-share", type=number(0, 1), default=0.0,
                        help="share of executions with at least one Code node, 0 to 1 (default 0)")
    parser.add_argument("--stack", help="start from Pulumi.<stack>.yaml (region, price overrides, alerts...)")
    args = parser.parse_args(argv)
    try:
        target = Workload(args.per_minute, args.seconds, args.code_share)
        stack_file = load_stack(args.stack)[0] if args.stack else None
        proposal = propose(target, stack_file.config if stack_file else {}, stack_file.stack if stack_file else "prod")
    except (SizingError, SettingsError) as err:
        print(f"python -m offline.size: {err}", file=sys.stderr)
        return 2
    for note in stack_file.notes if stack_file else []:
        print(f"note: {note}", file=sys.stderr)
    config = {"config": {f"{NAMESPACE}:{key}": value for key, value in proposal.config.items()}}
    sys.stdout.write(yaml.safe_dump(config, sort_keys=False))
    print("\n".join(f"# {reason}" for reason in proposal.reasons), file=sys.stderr)
    print(proposal.cost.table(), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
