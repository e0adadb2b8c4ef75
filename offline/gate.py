"""The offline policy gate: a stack's resources through the real policy pack, no cloud and no Pulumi CLI.

    python -m offline.gate prod
    python -m offline.gate staging                      # uses policies/config/staging.json
    python -m offline.gate prod --policy-pack-config my-levels.json
    python -m offline.gate prod --format markdown       # for a pull-request comment (table, json too)
    python -m offline.gate prod --json gate.json --markdown gate.md   # the table, and both reports, in one run

Runs `__main__.py` under Pulumi's mocks with `Pulumi.<stack>.yaml`, starts `policies/` as the CLI starts
it, sends every registered resource through `Analyze` and the whole stack through `AnalyzeStack`, and
prints one line per verdict, then the stack's monthly cost and capacity as the program exported them (its
`monthly_cost` and `capacity` outputs, what `pulumi stack output` shows). The policy-pack config is
`--policy-pack-config FILE`, else `policies/config/<stack>.json` when it exists, else the pack's defaults.
`--format json` prints one JSON object (verdicts, counts, exit code, cost, capacity) for machines;
`--format markdown` the same for a pull-request comment; `--json FILE` and `--markdown FILE` write them
to files besides what is printed, from the same run. The exit code does not depend on the format.

Exit codes: 0 no mandatory violation (advisories may be listed), 1 at least one mandatory violation,
2 invalid settings, unknown stack, bad policy-pack config or a report file that cannot be written,
3 the policy pack failed to start or crashed (a bug, not a verdict).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from offline.cost import summary
from platform_model.capacity import report_from_output
from platform_model.catalog import APP
from platform_model.pricing import MonthlyCost, over_budget
from platform_model.spec_reader import AppSpec
from settings.model import Settings, SettingsError
from stack.loader import PROJECT_DIR, StackFile, config_for_engine, load_stack

if TYPE_CHECKING:  # gRPC, Pulumi and the provider SDK load in main(), once the stack file is known to be valid
    from offline.analyzer import PolicyPack, Verdict
    from offline.engine import ProgramRun

PASS, VIOLATION, BAD_INPUT, PACK_FAILED = 0, 1, 2, 3
CONFIG_DIR = PROJECT_DIR / "policies" / "config"


@dataclass
class GateReport:
    stack: str
    verdicts: list[Verdict]
    policies: int  # policies enabled in the pack
    resources: int  # resources analyzed
    config_source: str  # which policy-pack config was applied
    seconds: float = 0.0
    outputs: dict = field(default_factory=dict)  # the stack's exports, as `pulumi stack output` shows them
    app_components: tuple[str, ...] = ()  # the App spec's services, workers and jobs, in its order

    @property
    def cost(self) -> MonthlyCost:
        return MonthlyCost.from_output(self.outputs["monthly_cost"], self.app_components)

    @property
    def budget(self) -> float | None:
        return self.outputs["monthly_cost"].get("budget")

    @property
    def capacity(self) -> dict:
        return report_from_output(self.outputs["capacity"])

    @property
    def mandatory(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.mandatory]

    @property
    def advisory(self) -> list[Verdict]:
        return [v for v in self.verdicts if not v.mandatory]

    @property
    def exit_code(self) -> int:
        return VIOLATION if self.mandatory else PASS


def default_config_path(stack: str) -> Path | None:
    path = CONFIG_DIR / f"{stack}.json"
    return path if path.exists() else None


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def evaluate(run: ProgramRun, pack: PolicyPack, config_path: Path | None = None,
             stack_config: dict | None = None) -> GateReport:
    """Configure the pack for the stack and check every resource the program registered."""
    from offline.analyzer import read_policy_config, reconcile
    from offline.engine import PROJECT

    given = read_policy_config(config_path) if config_path else {}
    source = _shown(config_path) if config_path else "the pack's defaults"
    settings = reconcile(pack.info(), given, source)
    pack.configure(settings)
    pack.configure_stack(run.stack, PROJECT, config_for_engine(stack_config or {}))
    verdicts = pack.check(run.resources)
    order = {"mandatory": 0, "advisory": 1}
    verdicts.sort(key=lambda v: (order.get(v.level, 2), v.policy, v.resource))
    enabled = sum(1 for s in settings.values() if s.level != "disabled")
    return GateReport(run.stack, verdicts, enabled, len(run.resources), source, outputs=run.outputs,
                      app_components=_app_components(run))


def _app_components(run: ProgramRun) -> tuple[str, ...]:
    return tuple(c.name for c in AppSpec(run.one(APP).inputs["spec"]).components())


def table(report: GateReport) -> str:
    """The verdicts as an aligned text table, one line per message line."""
    rows = [("POLICY", "RESOURCE", "LEVEL", "MESSAGE")]
    for v in report.verdicts:
        lines = v.message.splitlines() or [""]
        rows.append((v.policy, v.resource, v.level, lines[0]))
        rows += [("", "", "", line) for line in lines[1:]]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join(f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c:<{widths[2]}}  {d}".rstrip() for a, b, c, d in rows)


def verdict_line(report: GateReport) -> str:
    verdict = "FAIL" if report.mandatory else "PASS"
    return (f"{verdict} {report.stack}: {len(report.mandatory)} mandatory, {len(report.advisory)} advisory "
            f"violation(s); {report.policies} policies over {report.resources} resources "
            f"(config: {report.config_source}; {report.seconds:.1f} s)")


def as_text(report: GateReport, settings: Settings) -> str:
    parts = [table(report)] if report.verdicts else []
    numbers = summary(settings.app_name, settings.workers.pairs, report.cost, report.capacity, report.budget)
    return "\n".join(parts + ["", numbers, "", verdict_line(report)]).lstrip("\n")


def as_json(report: GateReport, settings: Settings) -> str:
    cost = report.cost
    return json.dumps({
        "stack": report.stack,
        "result": "fail" if report.mandatory else "pass",
        "exit_code": report.exit_code,
        "mandatory": len(report.mandatory),
        "advisory": len(report.advisory),
        "policies": report.policies,
        "resources": report.resources,
        "policy_pack_config": report.config_source,
        "seconds": round(report.seconds, 2),
        "verdicts": [{"policy": v.policy, "resource": v.resource, "urn": v.urn, "level": v.level,
                      "severity": v.severity, "message": v.message} for v in report.verdicts],
        "monthly_cost": cost.as_output(report.budget),
        "over_budget": over_budget(cost, report.budget),
        "capacity": report.capacity,
    }, indent=2)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "<br>")


def as_markdown(report: GateReport, settings: Settings) -> str:
    mark = "❌ FAIL" if report.mandatory else "✅ PASS"
    lines = [f"### `{report.stack}`: {mark}", "",
             f"{len(report.mandatory)} mandatory and {len(report.advisory)} advisory violation(s) from "
             f"{report.policies} policies over {report.resources} resources (policy-pack config: "
             f"{_cell(report.config_source)}).", ""]
    if report.verdicts:
        lines += ["| Policy | Resource | Level | Message |", "| --- | --- | --- | --- |"]
        lines += [f"| `{v.policy}` | `{v.resource}` | {'**mandatory**' if v.mandatory else 'advisory'} | "
                  f"{_cell(v.message)} |" for v in report.verdicts]
        lines.append("")
    cost = report.cost
    lines += [f"**Monthly cost**: ${cost.minimum:,.2f} at minimum scale, ${cost.maximum:,.2f} at maximum "
              f"(list prices as of {cost.prices_as_of}; * not confirmed from a primary source).", "",
              "| Component | What | Min $/mo | Max $/mo |", "| --- | --- | ---: | ---: |"]
    lines += [f"| {i.name} | {_cell(i.what)} | {i.min_usd:,.2f} | {i.max_usd:,.2f}{'' if i.confirmed else ' *'} |"
              for i in cost.items]
    lines.append(f"| **total** | | **{cost.minimum:,.2f}** | **{cost.maximum:,.2f}** |")
    budget = report.budget
    message = over_budget(cost, budget)
    if message:
        lines += ["", f"⚠️ Over budget: {_cell(message)}"]
    elif budget is not None:
        lines += ["", f"Within budget: ${cost.maximum:,.2f} of ${budget:,.2f} (`cost.monthlyBudget`)."]
    cap = report.capacity
    pg = cap["postgres_connections"]
    lines += ["", f"**Capacity**: {cap['concurrent_executions']} concurrent executions, "
              f"{cap['runner_slots_per_pair']} Code-node tasks at once per worker pair, PostgreSQL connections "
              f"{pg['needed']} of {pg['limit']}."]
    lines += [f"- ⚠️ {_cell(w)}" for w in cap["warnings"]]
    return "\n".join(lines)


FORMATS = {"table": as_text, "markdown": as_markdown, "json": as_json}


def check_stack(stack_file: StackFile, config_path: Path | None) -> GateReport:
    """The program run on the stack under mocks, with the stack's encrypted keys flagged secret as the engine
    flags them, and every resource it registers through the pack."""
    from offline.analyzer import PolicyPack, read_policy_config
    from offline.engine import run_program

    if config_path:
        read_policy_config(config_path)  # a malformed file fails here, before the program and the pack run
    with PolicyPack() as pack:  # starts now, and loads on the other core while the program runs
        run = run_program(stack_file.config, stack_file.stack, stack_file.secret_keys)
        return evaluate(run, pack, config_path, stack_file.config)


def write_reports(report: GateReport, settings: Settings, files: dict[str, Path | None]) -> str | None:
    """Write the report in each format that has a file ({"json": path}); the problem, if one cannot be."""
    for fmt, path in files.items():
        if path is None:
            continue
        try:
            path.write_text(FORMATS[fmt](report, settings) + "\n")
        except OSError as err:
            return f"cannot write --{fmt} {path}: {err.strerror}"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m offline.gate", description=__doc__.split("\n\n")[0])
    parser.add_argument("stack",
                        help="stack name: reads Pulumi.<stack>.yaml (working directory first, then the project)")
    parser.add_argument("--policy-pack-config", type=Path, metavar="FILE",
                        help="policy-pack config JSON (default: policies/config/<stack>.json if present)")
    parser.add_argument("--format", choices=sorted(FORMATS), default="table",
                        help="table for people (default), markdown for a PR comment, json for machines")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the JSON report to FILE")
    parser.add_argument("--markdown", type=Path, metavar="FILE", help="also write the Markdown report to FILE")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        stack_file, settings = load_stack(args.stack)  # what the program would refuse: say why, exit 2
    except SettingsError as err:
        print(err, file=sys.stderr)
        return BAD_INPUT
    for note in stack_file.notes:
        print(f"note: {note}", file=sys.stderr)
    from offline.analyzer import PolicyConfigError, PolicyPackError

    try:
        report = check_stack(stack_file, args.policy_pack_config or default_config_path(stack_file.stack))
    except PolicyConfigError as err:
        print(err, file=sys.stderr)
        return BAD_INPUT
    except PolicyPackError as err:
        print(err, file=sys.stderr)
        return PACK_FAILED
    report.seconds = time.perf_counter() - started
    print(FORMATS[args.format](report, settings))
    problem = write_reports(report, settings, {"json": args.json, "markdown": args.markdown})
    if problem:
        print(problem, file=sys.stderr)
        return BAD_INPUT
    return report.exit_code


def exit_now(code: int) -> None:
    """End the process without tearing the interpreter down: freeing the provider SDK's thousands of
    classes at exit takes about 0.3 s here, and the OS reclaims the memory anyway."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_now(main())
