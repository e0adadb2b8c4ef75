"""A stack's settings as the neutral deployment (platform_model/deployment.py) the cost and capacity rules
read: its App Platform components with their instance ranges and n8n settings, the pre-deploy job, the
database clusters and n8n's PostgreSQL with its pool; and what that costs and carries."""

from __future__ import annotations

from platform_model import catalog, roles
from platform_model.capacity import default_pool_size
from platform_model.deployment import AppComponent, Cluster, ConnectionPool, Deployment, Job, replica_cluster
from platform_model.pricing import MonthlyCost, PriceTable, load_prices, monthly_cost
from platform_model.topology import COLLECTOR, DB_SETUP_JOB
from settings.model import Settings, instance_range

from .names import topology_for


def database_prices(s: Settings) -> dict[str, dict[str, float]]:
    """The stack's `cost.prices` for each database engine, keyed as the price table keys them."""
    return {e.setting: dict(getattr(s.cost.prices, e.setting)) for e in catalog.ENGINES}


def prices_for(s: Settings, table: PriceTable | None = None) -> PriceTable:
    """The price table as this stack sees it: list prices with the stack's `cost.prices` on top."""
    table = table or load_prices()
    return table.with_overrides(app=s.cost.prices.app, database=database_prices(s))


def stack_pool_size(s: Settings) -> int | None:
    """Server connections of the stack's PgBouncer pool, when it has one."""
    pool = s.postgres.connection_pool
    if pool is None:
        return None
    return pool.size or default_pool_size(s.postgres.size)


def _n8n(s: Settings, name: str, size: str, scale: tuple[int, int], role: str, concurrency=None) -> AppComponent:
    return AppComponent(name, size, *scale, role, db_pool_size=s.n8n.db_pool_size, concurrency=concurrency)


def _components(s: Settings) -> list[AppComponent]:
    top = topology_for(s)
    components = [_n8n(s, top.main, s.main.size, instance_range(s.main.instances, s.main.autoscaling), roles.MAIN)]
    components += [_n8n(s, w, s.workers.size, (1, 1), roles.WORKER, s.workers.concurrency) for w in top.workers]
    if top.webhook:
        components.append(_n8n(s, top.webhook, s.webhooks.size,
                               instance_range(s.webhooks.processors, s.webhooks.autoscaling), roles.WEBHOOK))
    components += [AppComponent(p.name, s.runners.size, *instance_range(s.runners.instances, s.runners.autoscaling),
                                roles.RUNNERS, broker=p.broker, runner_max_concurrency=s.runners.max_concurrency)
                   for p in top.runner_pools]
    if runs_collector(s):
        components.append(AppComponent(COLLECTOR, s.observability.metrics.collector_size, 1, 1, roles.NOT_N8N))
    if s.backups:  # the backup worker (builders/backup_spec.py): always one instance
        components.append(AppComponent(catalog.BACKUP_COMPONENT, catalog.BACKUP_WORKER_SIZE, 1, 1, roles.NOT_N8N))
    return components


def runs_collector(s: Settings) -> bool:
    """The metrics collector runs only when metrics are on and have somewhere to go."""
    m = s.observability.metrics
    return m.enabled and m.remote is not None


def deployment_from_settings(s: Settings) -> Deployment:
    pool, pool_size = s.postgres.connection_pool, stack_pool_size(s)
    clusters = [Cluster(e.setting, e, db.size, db.nodes) for e, db in ((catalog.POSTGRES, s.postgres),
                                                                       (catalog.VALKEY, s.valkey))]
    if s.postgres.replica:
        clusters.append(replica_cluster(s.postgres.replica.size or s.postgres.size))
    return Deployment(
        components=tuple(_components(s)),
        jobs=(Job(DB_SETUP_JOB, catalog.DB_SETUP_JOB_SIZE),),
        clusters=tuple(clusters),
        postgres=s.postgres.size,
        connection_pool=None if pool is None or pool_size is None else ConnectionPool(pool_size, pool.mode),
        spaces=s.backups is not None,
    )


def stack_cost(s: Settings, table: PriceTable | None = None) -> MonthlyCost:
    return monthly_cost(deployment_from_settings(s), prices_for(s, table))
