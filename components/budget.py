"""The stack's monthly budget and price overrides, registered where the policy pack can read them.

A budget is a stack setting, not a property of any DigitalOcean resource, and the pack only sees what
the program registers. Stack policies see each resource's outputs (the engine's AnalyzeStack), and a
component's outputs are exactly what it passes to `register_outputs`. So this small component registers
the budget and the stack's `cost.prices` as its outputs; the `monthly-budget` policy prices the
registered App and clusters with them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi

from builders.deployment import database_prices
from platform_model.catalog import BUDGET
from settings.model import Settings


@dataclass
class BudgetArgs:
    monthly_budget: float | None
    prices: Mapping[str, Mapping[str, float]] = field(default_factory=dict)  # app/postgres/valkey -> slug -> USD

    @classmethod
    def from_settings(cls, s: Settings) -> BudgetArgs:
        return cls(s.cost.monthly_budget, {"app": dict(s.cost.prices.app), **database_prices(s)})


class Budget(pulumi.ComponentResource):
    def __init__(self, name: str, args: BudgetArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(BUDGET, name, None, opts)
        self.register_outputs({"monthlyBudget": args.monthly_budget, "prices": dict(args.prices)})
