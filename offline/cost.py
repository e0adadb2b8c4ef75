"""What stacks cost per month and what they can carry, from their `Pulumi.<stack>.yaml`, without Pulumi or
a cloud account.

    python -m offline.cost prod staging       # a breakdown per stack
    python -m offline.cost prod --reference   # ... and DigitalOcean's n8n template for comparison
    python -m offline.cost prod staging --reference --markdown   # docs/cost-and-capacity.md's table

Exit codes: 0 printed, 1 a stack's maximum exceeds its cost.monthlyBudget, 2 invalid settings or unknown
stack. `python -m offline.render` prints the same summary to stderr.
"""

from __future__ import annotations

import argparse
import sys

from builders.deployment import deployment_from_settings, stack_cost
from platform_model.capacity import capacity_report
from platform_model.pricing import REFERENCE_TEMPLATE, MonthlyCost, load_prices, monthly_cost, over_budget
from settings.model import Settings, SettingsError
from stack.loader import load_stack

REFERENCE_NAME = "DigitalOcean template (production.yaml)"


def stack_summary(s: Settings) -> str:
    """Cost breakdown, capacity and warnings of one stack, for terminals and CI logs."""
    return summary(s.app_name, s.workers.pairs, stack_cost(s), capacity_report(deployment_from_settings(s)),
                   s.cost.monthly_budget)


def summary(app: str, pairs: int, cost: MonthlyCost, cap: dict, budget: float | None) -> str:
    """The summary of a stack's cost and capacity, computed here from its settings or read by the gate
    from the outputs the program exported."""
    pg = cap["postgres_connections"]
    lines = [
        f"{app}: ${cost.minimum:.2f}/month at minimum scale, ${cost.maximum:.2f} at maximum "
        f"(prices as of {cost.prices_as_of})",
        cost.table(),
        f"capacity: {cap['concurrent_executions']} concurrent executions ({pairs} worker "
        f"pair{'' if pairs == 1 else 's'} × "
        f"{cap['worker_concurrency']}), {cap['runner_slots_per_pair']} Code-node tasks at once per pair, "
        f"worker memory ~{cap['worker_memory_mib']['estimate']} of {cap['worker_memory_mib']['usable']} MiB",
        f"PostgreSQL connections: {pg['needed']} of {pg['limit']}: {pg['working']}",
    ]
    lines += [f"warning: {w}" for w in cap["warnings"]]
    over = over_budget(cost, budget)
    if over:
        lines.append(f"over budget: {over}")
    elif budget is not None:
        lines.append(f"within budget: ${cost.maximum:.2f} of ${budget:.2f} (cost.monthlyBudget)")
    return "\n".join(lines)


def markdown_table(costs: dict[str, MonthlyCost]) -> str:
    """One row per deployment: docs/cost-and-capacity.md's side-by-side comparison."""
    rows = ["| Deployment | Minimum scale | Maximum scale |", "| --- | ---: | ---: |"]
    rows += [f"| {name} | ${c.minimum:,.2f} | ${c.maximum:,.2f} |" for name, c in costs.items()]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m offline.cost", description=__doc__.split("\n\n")[0])
    parser.add_argument("stacks", nargs="*", help="stack names: reads Pulumi.<stack>.yaml")
    parser.add_argument("--reference", action="store_true",
                        help="add DigitalOcean's n8n template (production.yaml) at list prices")
    parser.add_argument("--markdown", action="store_true", help="one Markdown table of totals")
    args = parser.parse_args(argv)
    if not args.stacks and not args.reference:
        parser.error("name at least one stack or --reference")
    loaded, errors = [], []
    for stack in args.stacks:  # every stack's problems at once
        try:
            loaded.append(load_stack(stack))
        except SettingsError as err:
            errors.append(str(err))
    if errors:
        print("\n".join(errors), file=sys.stderr)
        return 2
    for note in (note for stack_file, _ in loaded for note in stack_file.notes):
        print(f"note: {note}", file=sys.stderr)
    settings = [s for _, s in loaded]
    over = any(over_budget(stack_cost(s), s.cost.monthly_budget) for s in settings)
    if args.markdown:
        costs = {f"`Pulumi.{s.stack}.yaml`": stack_cost(s) for s in settings}
        if args.reference:
            costs[REFERENCE_NAME] = monthly_cost(REFERENCE_TEMPLATE, load_prices())
        print(markdown_table(costs))
        return 1 if over else 0
    blocks = [stack_summary(s) for s in settings]
    if args.reference:
        ref = monthly_cost(REFERENCE_TEMPLATE, load_prices())
        blocks.append(f"{REFERENCE_NAME}: ${ref.minimum:.2f}/month at minimum scale, ${ref.maximum:.2f} at "
                      f"maximum\n{ref.table()}")
    print("\n\n".join(blocks))
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
