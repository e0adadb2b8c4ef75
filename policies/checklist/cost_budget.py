"""Cost known before deploying: the stack's maximum monthly cost stays within its budget.

The budget (`cost.monthlyBudget`) and the stack's own prices (`cost.prices`) reach the pack as the outputs
the `n8n-platform:cost:Budget` component registers (`register_outputs`), which is what AnalyzeStack hands
a stack policy; the App and clusters are read as the same deployment (policies/platform_model/deployment.py)
and priced by the same rules (pricing.py) as the `monthly_cost` stack output and `python -m offline.cost`.
A Budget whose outputs lack its prices (which it always registers, `{}` per kind when the stack sets none)
is reported: the pack cannot see its budget.

Unknown values: the budget and the sizes and instance counts it prices are literals in this program; if
any is unknown at preview, the policy reports that it cannot price the stack.
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import EnforcementLevel, Severity

from platform_model import catalog
from platform_model.catalog import BUDGET, CLUSTER, REPLICA, SPACES_BUCKET, VPC
from platform_model.deployment import Cluster, from_app_spec, replica_cluster
from platform_model.pricing import load_prices, monthly_cost, over_budget
from platform_model.spec_fields import is_unknown, number

from .resources import Stack, StackProblems, stack_policy

ENGINES = {e.cluster: e for e in catalog.ENGINES}  # by DatabaseCluster `engine`


def monthly_budget_problems(stack: Stack) -> StackProblems:
    for budget in stack.of_type(BUDGET):
        props = stack.props(budget)
        if "prices" not in props:
            yield budget.urn, (f"cannot see the budget: {budget.name} registered no budget outputs; the "
                               "component must pass its budget and prices to `register_outputs`")
            continue
        limit = props.get("monthlyBudget")
        if limit is None:
            continue  # no budget set: nothing to compare
        prices = props.get("prices") or {}
        if is_unknown(limit) or number(limit) is None or is_unknown(prices):
            yield budget.urn, "cannot price the stack: the budget or its prices are not known at preview"
            continue
        table = load_prices().with_overrides(
            app=prices.get("app"), database={e.setting: prices.get(e.setting) or {} for e in catalog.ENGINES})
        clusters = []
        for c in stack.of_type(CLUSTER):
            p = stack.props(c)
            if p.get("engine") in ENGINES:
                size: Any = p.get("size")  # as read: a size with no price is reported below ("no price for")
                clusters.append(Cluster(str(p.get("name")), ENGINES[p["engine"]], size,
                                        int(number(p.get("nodeCount")) or 1)))
        clusters += [replica_cluster(stack.props(r).get("size")) for r in stack.of_type(REPLICA)]
        for app, spec, problems in stack.apps():
            if spec is None:
                yield app.urn, f"cannot price the stack: {'; '.join(problems)}"
                continue
            deployment = from_app_spec(spec.data, clusters, bool(stack.of_type(VPC)),
                                       spaces=bool(stack.of_type(SPACES_BUCKET)))
            unknown = [c.name for c in deployment.components if None in (c.min_instances, c.max_instances)]
            if unknown:
                yield app.urn, (f"cannot price the stack: the instance count of {', '.join(unknown)} is not known "
                                "at preview")
                continue
            try:
                cost = monthly_cost(deployment, table)
            except (KeyError, TypeError, ValueError) as err:
                yield app.urn, (f"cannot price the stack: no price for {err} "
                                "(policies/platform_model/prices.toml, cost.prices)")
                continue
            message = over_budget(cost, number(limit))
            if message:
                yield app.urn, message


monthly_budget = stack_policy(
    name="monthly-budget",
    description="At maximum scale the stack costs no more per month than its budget (cost.monthlyBudget).",
    severity=Severity.LOW,
    remediation=(
        "Lower autoscaling maxima, worker pairs or instance sizes, or raise `cost.monthlyBudget`. "
        "`python -m offline.cost <stack>` prints the breakdown; `python -m offline.size` proposes a stack "
        "for a load."
    ),
    check=monthly_budget_problems,
    level=EnforcementLevel.ADVISORY,  # spending is a business decision, not a security rule
)

POLICIES = [monthly_budget]
