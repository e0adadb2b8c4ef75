"""The stack's monthly budget and price overrides, registered where the policy pack can read them.

A budget is a stack setting, not a property of any DigitalOcean resource, and the pack only sees what
the program registers. Stack policies see each resource's outputs (the engine's AnalyzeStack), and a
component's outputs are exactly what it passes to `register_outputs`. So this small component registers
the budget and the stack's `cost.prices` as its outputs; the `monthly-budget` policy prices the
registered App and clusters with them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional

import pulumi

from settings.model import Settings

TYPE = "n8n-platform:cost:Budget"


@dataclass
class BudgetArgs:
    monthly_budget: Optional[float]
    prices: Mapping[str, Mapping[str, float]] = field(default_factory=dict)  # app/postgres/valkey -> slug -> USD

    @classmethod
    def from_settings(cls, s: Settings) -> "BudgetArgs":
        p = s.cost.prices
        return cls(s.cost.monthly_budget, {"app": dict(p.app), "postgres": dict(p.postgres), "valkey": dict(p.valkey)})


class Budget(pulumi.ComponentResource):
    def __init__(self, name: str, args: BudgetArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(TYPE, name, None, opts)
        self.register_outputs({"monthlyBudget": args.monthly_budget, "prices": dict(args.prices)})
