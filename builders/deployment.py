"""A stack's settings as the deployment platform_model.pricing prices: its App Platform components with
their instance ranges, the pre-deploy job and the database clusters; and what that costs per month."""

from __future__ import annotations

from typing import Any, Optional

from platform_model import catalog
from platform_model.pricing import (AppComponent, Cluster, Deployment, Job, MonthlyCost, PriceTable, load_prices,
                                    monthly_cost, replica_cluster)
from platform_model.topology import DB_SETUP_JOB
from settings.model import Settings

from .names import topology_for


def prices_for(s: Settings, table: Optional[PriceTable] = None) -> PriceTable:
    """The price table as this stack sees it: list prices with the stack's `cost.prices` on top."""
    table = table or load_prices()
    p = s.cost.prices
    return table.with_overrides(app=p.app, database={"postgres": p.postgres, "valkey": p.valkey})


def _range(instances: Optional[int], auto: Any) -> tuple[int, int]:
    if auto is not None:
        return auto.min_instances, auto.max_instances
    return (instances or 1), (instances or 1)


def deployment_from_settings(s: Settings) -> Deployment:
    top = topology_for(s)
    components = [AppComponent(top.main, s.main.size, *_range(s.main.instances, s.main.autoscaling))]
    components += [AppComponent(w, s.workers.size, 1, 1) for w in top.workers]
    if top.webhook:
        components.append(AppComponent(top.webhook, s.webhooks.size,
                                       *_range(s.webhooks.processors, s.webhooks.autoscaling)))
    components += [AppComponent(p.name, s.runners.size, *_range(s.runners.instances, s.runners.autoscaling))
                   for p in top.runner_pools]
    if s.backups:
        components.append(AppComponent(catalog.BACKUP_COMPONENT, catalog.BACKUP_WORKER_SIZE, 1, 1))
    clusters = [Cluster("postgres", "postgres", s.postgres.size, s.postgres.nodes),
                Cluster("valkey", "valkey", s.valkey.size, s.valkey.nodes)]
    if s.postgres.replica:
        clusters.append(replica_cluster("postgres replica", s.postgres.replica.size or s.postgres.size))
    return Deployment(
        components=tuple(components),
        jobs=(Job(DB_SETUP_JOB, catalog.DB_SETUP_JOB_SIZE),),
        clusters=tuple(clusters),
        spaces=s.backups is not None,
    )


def stack_cost(s: Settings, table: Optional[PriceTable] = None) -> MonthlyCost:
    return monthly_cost(deployment_from_settings(s), prices_for(s, table))
