"""What a deployment costs per month at its minimum and at its maximum scale, from the dated price table.

Pure and stdlib-only (the policy pack imports it): it prices a `Deployment` (platform_model/deployment.py),
built from a stack's settings or from an App spec, so the program, the offline tools and the policy pack
price the same thing. Prices come from `prices.toml`;
a stack overrides any figure with `cost.prices` (docs/settings.md).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from . import catalog
from .deployment import REPLICA_CLUSTER, AppComponent, Cluster, Deployment

PRICE_TABLE = Path(__file__).with_name("prices.toml")
VPC_ITEM = "vpc"  # the VPC's line item
SPACES_ITEM = "spaces"  # the Spaces subscription's line item (off-cluster backups)


# --- the price table -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Price:
    usd: float
    source: str  # key in the table's [sources], or "cost.prices" for a stack override
    confirmed: bool


@dataclass(frozen=True)
class JobBilling:
    minimum_billed_seconds: int
    assumed_deployments_per_month: int
    assumed_seconds_per_run: int

    @property
    def billed_seconds_per_month(self) -> int:
        return self.assumed_deployments_per_month * max(self.assumed_seconds_per_run, self.minimum_billed_seconds)


@dataclass(frozen=True)
class PriceTable:
    as_of: str
    app: Mapping[str, Price]  # monthly price of one instance, by App Platform size slug
    app_per_second: Mapping[str, float]
    app_bandwidth_gib: Mapping[str, int]  # outbound allowance per instance and month
    database: Mapping[str, Mapping[str, Price]]  # Engine.setting -> size slug -> monthly price of one node
    vpc: Price
    spaces: Price  # the Spaces subscription the backup bucket needs
    jobs: JobBilling
    bandwidth_overage: Price  # per GiB beyond the allowance
    sources: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def with_overrides(self, app: Mapping[str, float] | None = None,
                       database: Mapping[str, Mapping[str, float]] | None = None) -> PriceTable:
        """The table with a stack's own figures (`cost.prices`) in place of the list prices."""
        def over(prices: Mapping[str, Price], new: Mapping[str, float]) -> dict[str, Price]:
            return {**prices, **{slug: Price(float(usd), "cost.prices", True) for slug, usd in new.items()}}

        return replace(
            self,
            app=over(self.app, app or {}),
            database={e.setting: over(self.database[e.setting], (database or {}).get(e.setting, {}))
                      for e in catalog.ENGINES},
        )


@lru_cache(maxsize=4)
def load_prices(path: Path = PRICE_TABLE) -> PriceTable:
    """The price table (read once per file: the monthly-budget policy asks on every check)."""
    data = tomllib.loads(path.read_text())
    sources = data["sources"]

    def price(row: Mapping[str, Any], key: str) -> Price:
        return Price(float(row[key]), row["source"], bool(sources[row["source"]]["confirmed"]))

    jobs = data["jobs"]
    return PriceTable(
        as_of=str(data["as_of"]),
        app={slug: price(row, "usd_per_month") for slug, row in data["app_platform"].items()},
        app_per_second={slug: float(row["usd_per_second"]) for slug, row in data["app_platform"].items()},
        app_bandwidth_gib={slug: int(row["bandwidth_gib"]) for slug, row in data["app_platform"].items()},
        database={e.setting: {slug: price(row, "usd_per_month_per_node") for slug, row in data[e.setting].items()}
                  for e in catalog.ENGINES},
        vpc=price(data["vpc"], "usd_per_month"),
        spaces=price(data["spaces"], "usd_per_month"),
        jobs=JobBilling(int(jobs["minimum_billed_seconds"]), int(jobs["assumed_deployments_per_month"]),
                        int(jobs["assumed_seconds_per_run"])),
        bandwidth_overage=price(data["bandwidth"], "usd_per_gib_over_allowance"),
        sources=sources,
    )


# The deployment DigitalOcean's n8n template describes (AppPlatform-Templates/n8n-appplatform,
# `.do/examples/production.yaml` at 072be6d, 2025-12-19): main, worker and two runner components, each
# apps-d-1vcpu-1gb autoscaling 1–2, attached to PostgreSQL and Valkey clusters that the spec names but does
# not size; the smallest plans (single 1 GiB nodes) are the cheapest it can run with.
REFERENCE_TEMPLATE = Deployment(
    components=tuple(AppComponent(name, "apps-d-1vcpu-1gb", 1, 2)
                     for name in ("n8n-main", "n8n-worker", "n8n-runner-main", "n8n-runner-worker")),
    jobs=(),
    clusters=(Cluster("n8n-postgres", catalog.POSTGRES, "db-s-1vcpu-1gb", 1),
              Cluster("n8n-redis", catalog.VALKEY, "db-s-1vcpu-1gb", 1)),
    vpc=False,
)


# --- the cost ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineItem:
    name: str
    what: str  # e.g. "apps-d-1vcpu-2gb × 1–2 instances"
    min_usd: float
    max_usd: float
    confirmed: bool  # every price behind it comes from a primary source (or the stack's own override)


def _usd(x: float) -> float:
    return round(x + 1e-9, 2)


@dataclass(frozen=True)
class MonthlyCost:
    items: tuple[LineItem, ...]
    prices_as_of: str
    bandwidth_allowance_gib: tuple[int, int]  # public egress included at minimum and maximum scale
    # The totals as exported, when read back from the `monthly_cost` output: its items are rounded to the
    # cent, so summing them again could miss the exported total by a cent.
    exported_totals: tuple[float, float] | None = None

    @property
    def minimum(self) -> float:
        return self.exported_totals[0] if self.exported_totals else _usd(sum(i.min_usd for i in self.items))

    @property
    def maximum(self) -> float:
        return self.exported_totals[1] if self.exported_totals else _usd(sum(i.max_usd for i in self.items))

    @property
    def unconfirmed(self) -> tuple[str, ...]:
        return tuple(i.name for i in self.items if not i.confirmed)

    def as_output(self, budget: float | None = None) -> dict:
        """The `monthly_cost` stack output: plain numbers a dashboard or `jq` can read."""
        out: dict[str, Any] = {
            "currency": "USD",
            "min": self.minimum,
            "max": self.maximum,
            "components": {i.name: {"what": i.what, "min": _usd(i.min_usd), "max": _usd(i.max_usd)}
                           for i in self.items},
            "prices_as_of": self.prices_as_of,
            "unconfirmed_prices": list(self.unconfirmed),
            "bandwidth_allowance_gib": {"min": self.bandwidth_allowance_gib[0],
                                        "max": self.bandwidth_allowance_gib[1]},
        }
        if budget is not None:
            out["budget"] = budget
        return out

    @classmethod
    def from_output(cls, out: Mapping[str, Any], order: Sequence[str] = ()) -> MonthlyCost:
        """The cost back from its `monthly_cost` stack output as the engine holds it: every number a float,
        the components unordered. They are listed App components first in `order` (the App spec's), then
        the clusters, the VPC and Spaces, as `monthly_cost` lists them."""
        listed = [*order, *(e.setting for e in catalog.ENGINES), REPLICA_CLUSTER, VPC_ITEM, SPACES_ITEM]
        rank = {name: i for i, name in enumerate(listed)}
        unconfirmed = set(out["unconfirmed_prices"])
        items = tuple(LineItem(name, c["what"], float(c["min"]), float(c["max"]), name not in unconfirmed)
                      for name, c in sorted(out["components"].items(),
                                            key=lambda kv: (rank.get(kv[0], len(rank)), kv[0])))
        allowance = out["bandwidth_allowance_gib"]
        return cls(items, out["prices_as_of"], (int(allowance["min"]), int(allowance["max"])),
                   exported_totals=(float(out["min"]), float(out["max"])))

    def table(self) -> str:
        """Plain-text breakdown for terminals and CI logs."""
        width = max(len(i.name) for i in self.items)
        what = max(len(i.what) for i in self.items)
        lines = [f"{'component':<{width}}  {'':<{what}}  {'min $/mo':>9}  {'max $/mo':>9}"]
        for i in self.items:
            mark = "" if i.confirmed else "  *"
            lines.append(f"{i.name:<{width}}  {i.what:<{what}}  {i.min_usd:>9.2f}  {i.max_usd:>9.2f}{mark}")
        lines.append(f"{'total':<{width}}  {'':<{what}}  {self.minimum:>9.2f}  {self.maximum:>9.2f}")
        if self.unconfirmed:
            lines.append(f"* price not confirmed from a primary source (policies/platform_model/prices.toml, as of "
                         f"{self.prices_as_of}); override it with cost.prices")
        return "\n".join(lines)


def _instances(low: int | None, high: int | None) -> str:
    return f"{low}" if low == high else f"{low}–{high}"


def monthly_cost(d: Deployment, prices: PriceTable) -> MonthlyCost:
    items: list[LineItem] = []
    allowance = [0, 0]
    for c in d.components:
        p = prices.app[c.size]
        # An instance count an App spec leaves unknown is None here: the TypeError it raises is what the
        # budget policy reports as "cannot price the stack" (checklist/cost_budget.py).
        items.append(LineItem(c.name, f"{c.size} × {_instances(c.min_instances, c.max_instances)}",
                              p.usd * c.min_instances, p.usd * c.max_instances,  # type: ignore[operator]
                              p.confirmed))
        allowance[0] += prices.app_bandwidth_gib.get(c.size, 0) * c.min_instances  # type: ignore[operator]
        allowance[1] += prices.app_bandwidth_gib.get(c.size, 0) * c.max_instances  # type: ignore[operator]
    jobs = prices.jobs
    for j in d.jobs:
        # Billed per second of runtime: (deploys per month) × (seconds per run, at least the minimum).
        usd = jobs.billed_seconds_per_month * prices.app_per_second[j.size]
        items.append(LineItem(j.name, f"{j.size}, {jobs.assumed_deployments_per_month} runs × "
                              f"{max(jobs.assumed_seconds_per_run, jobs.minimum_billed_seconds)} s",
                              usd, usd, False))
    for cl in d.clusters:
        p = prices.database[cl.engine.setting][cl.size]
        nodes = "1 node" if cl.nodes == 1 else f"{cl.nodes} nodes"
        items.append(LineItem(cl.name, f"{cl.size} × {nodes}", p.usd * cl.nodes, p.usd * cl.nodes, p.confirmed))
    if d.vpc:
        items.append(LineItem(VPC_ITEM, "VPC network", prices.vpc.usd, prices.vpc.usd, prices.vpc.confirmed))
    if d.spaces:
        s = prices.spaces
        items.append(LineItem(SPACES_ITEM, "Spaces subscription (backups)", s.usd, s.usd, s.confirmed))
    return MonthlyCost(tuple(items), prices.as_of, (allowance[0], allowance[1]))


# --- the budget ------------------------------------------------------------------------------------


def over_budget(cost: MonthlyCost, budget: float | None) -> str | None:
    """The message the budget policy reports when the maximum monthly cost exceeds `cost.monthlyBudget`;
    None when there is no budget or the stack fits it."""
    if budget is None or cost.maximum <= budget:
        return None
    biggest = sorted(cost.items, key=lambda i: i.max_usd, reverse=True)[:3]
    drivers = ", ".join(f"{i.name} {i.what} ${i.max_usd:.2f}" for i in biggest)
    return (f"at maximum scale this stack costs ${cost.maximum:.2f}/month, ${cost.maximum - budget:.2f} over "
            f"its budget of ${budget:.2f} (cost.monthlyBudget); at minimum scale ${cost.minimum:.2f}. "
            f"Largest items: {drivers}. Lower autoscaling maxima, pairs or sizes, or raise the budget.")
