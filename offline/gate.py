"""The offline policy gate: a stack's resources through the real policy pack, no cloud and no Pulumi CLI.

    python -m offline.gate prod
    python -m offline.gate staging                      # uses policies/config/staging.json
    python -m offline.gate prod --policy-pack-config my-levels.json

Runs `__main__.py` under Pulumi's mocks with `Pulumi.<stack>.yaml`, starts `policies/` as the CLI starts
it, sends every registered resource through `Analyze` and the whole stack through `AnalyzeStack`, and
prints one line per verdict. The policy-pack config is `--policy-pack-config FILE`, else
`policies/config/<stack>.json` when it exists, else the pack's defaults.

Exit codes: 0 no mandatory violation (advisories may be listed), 1 at least one mandatory violation,
2 invalid settings, unknown stack or bad policy-pack config, 3 the policy pack failed to start or
crashed (a bug, not a verdict).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from components.settings import SettingsError
from components.stack import read_stack_file, settings_from_file
from offline.analyzer import (POLICY_PACK_DIR, PolicyConfigError, PolicyPack, PolicyPackError, Verdict,
                              read_policy_config, reconcile)
from offline.engine import PROJECT, ProgramRun, config_for_engine, run_program

PASS, VIOLATION, BAD_INPUT, PACK_FAILED = 0, 1, 2, 3
CONFIG_DIR = POLICY_PACK_DIR / "config"


@dataclass
class GateReport:
    stack: str
    verdicts: list[Verdict]
    policies: int  # policies enabled in the pack
    resources: int  # resources analyzed
    config_source: str  # which policy-pack config was applied
    seconds: float = 0.0

    @property
    def mandatory(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.mandatory]

    @property
    def advisory(self) -> list[Verdict]:
        return [v for v in self.verdicts if not v.mandatory]

    @property
    def exit_code(self) -> int:
        return VIOLATION if self.mandatory else PASS


def default_config_path(stack: str) -> Optional[Path]:
    path = CONFIG_DIR / f"{stack}.json"
    return path if path.exists() else None


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def evaluate(run: ProgramRun, pack: PolicyPack, config_path: Optional[Path] = None,
             stack_config: Optional[dict] = None) -> GateReport:
    """Configure the pack for the stack and check every resource the program registered."""
    given = read_policy_config(config_path) if config_path else {}
    source = _shown(config_path) if config_path else "the pack's defaults"
    settings = reconcile(pack.info(), given, source)
    pack.configure(settings)
    pack.configure_stack(run.stack, PROJECT, config_for_engine(stack_config or {}))
    verdicts = pack.check(run.resources)
    order = {"mandatory": 0, "advisory": 1}
    verdicts.sort(key=lambda v: (order.get(v.level, 2), v.policy, v.resource))
    enabled = sum(1 for s in settings.values() if s.level != "disabled")
    return GateReport(run.stack, verdicts, enabled, len(run.resources), source)


def table(report: GateReport) -> str:
    """The verdicts as an aligned text table, one line per message line."""
    rows = [("POLICY", "RESOURCE", "LEVEL", "MESSAGE")]
    for v in report.verdicts:
        lines = v.message.splitlines() or [""]
        rows.append((v.policy, v.resource, v.level, lines[0]))
        rows += [("", "", "", line) for line in lines[1:]]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join(f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c:<{widths[2]}}  {d}".rstrip() for a, b, c, d in rows)


def summary(report: GateReport) -> str:
    verdict = "FAIL" if report.mandatory else "PASS"
    return (f"{verdict} {report.stack}: {len(report.mandatory)} mandatory, {len(report.advisory)} advisory "
            f"violation(s); {report.policies} policies over {report.resources} resources "
            f"(config: {report.config_source}; {report.seconds:.1f} s)")


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m offline.gate", description=__doc__.split("\n\n")[0])
    parser.add_argument("stack", help="stack name: reads Pulumi.<stack>.yaml")
    parser.add_argument("--policy-pack-config", type=Path, metavar="FILE",
                        help="policy-pack config JSON (default: policies/config/<stack>.json if present)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        settings_from_file(args.stack)  # invalid settings: the program would stop; say why, exit 2
        stack_file = read_stack_file(args.stack)
    except SettingsError as err:
        print(err, file=sys.stderr)
        return BAD_INPUT
    config_path = args.policy_pack_config or default_config_path(args.stack)
    if stack_file.encrypted:
        print(f"note: {', '.join(stack_file.encrypted)} are encrypted in Pulumi.{args.stack}.yaml and cannot "
              "be read offline; the gate checks generated stand-ins for them", file=sys.stderr)
    run = run_program(stack_file.config, args.stack)
    try:
        with PolicyPack() as pack:
            report = evaluate(run, pack, config_path, stack_file.config)
    except PolicyConfigError as err:
        print(err, file=sys.stderr)
        return BAD_INPUT
    except PolicyPackError as err:
        print(err, file=sys.stderr)
        return PACK_FAILED
    report.seconds = time.perf_counter() - started
    if report.verdicts:
        print(table(report))
    print(summary(report))
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
