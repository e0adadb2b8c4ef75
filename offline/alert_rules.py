"""Print a stack's Prometheus alert rules (the `alert_rules` stack output), without Pulumi or a cloud account.

    python -m offline.alert_rules prod > n8n-rules.yml     # load into Grafana Cloud, Mimir or Prometheus

Exit codes: 0 printed, 2 invalid settings or unknown stack.
"""

from __future__ import annotations

import argparse
import sys

import yaml

from builders.observability import alert_rules
from settings.model import SettingsError
from stack.loader import load_stack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m offline.alert_rules", description=__doc__.split("\n\n")[0])
    parser.add_argument("stack", help="stack name: reads Pulumi.<stack>.yaml")
    args = parser.parse_args(argv)
    try:
        _, settings = load_stack(args.stack)
    except SettingsError as err:
        print(err, file=sys.stderr)
        return 2
    sys.stdout.write(yaml.safe_dump(alert_rules(settings), sort_keys=False, width=120))
    return 0


if __name__ == "__main__":
    sys.exit(main())
