"""Checklist: database HA, backups, and a queue store that keeps its jobs.

- HA: a managed cluster with standby nodes (node_count 2-3) fails over in seconds; a single node is
  down for every failure and maintenance. Standby nodes need a plan with at least 2 GiB of RAM.
- Backups: DigitalOcean backs up managed clusters daily (and PostgreSQL point-in-time), so the
  checkable part is that n8n keeps its data in a *managed production* cluster: not SQLite inside the
  container (App Platform discards it on every deploy), not a dev database (no backups), not a
  hand-run host.
- Bull (n8n's queue) loses jobs when Valkey evicts keys: eviction policy `noeviction`.

Unknown values: node count, size, engine, eviction policy and database host unknown at preview are
violations (literals in this program).
"""

from __future__ import annotations

from pulumi_policy import Severity

from platform_model import catalog
from platform_model.catalog import APP, CLUSTER
from platform_model.spec_fields import is_unknown, number
from platform_model.spec_reader import AppSpec, bound_host

from .resources import app_check, resource_policy

QUEUE_ENGINES = ("valkey", "redis")


def ha_problems(props: dict, args) -> list[str]:
    nodes, size = props.get("nodeCount"), props.get("size")
    if is_unknown(nodes) or is_unknown(size):
        return [f"{args.name}: node count or size is not known at preview; high availability cannot be shown"]
    count = number(nodes) or 1
    plan = catalog.DATABASE_SIZES.get(size) if isinstance(size, str) else None
    small = plan is not None and not plan.allows_standby
    plan_hint = (f" on a plan with at least 2 GiB ({size} allows no standby nodes, e.g. db-s-1vcpu-2gb)"
                 if small else "")
    if count < 2:
        return [f"{args.name} runs {count:.0f} node: every failure or maintenance stops n8n. Run 2 or 3 nodes "
                f"(a primary plus standby nodes){plan_hint}"]
    if small:
        return [f"{args.name}: {size} allows no standby nodes; high availability needs a plan with at least "
                "2 GiB (e.g. db-s-1vcpu-2gb)"]
    return []


database_high_availability = resource_policy(
    name="database-high-availability",
    description="PostgreSQL and Valkey run a primary plus standby nodes on a plan that allows them.",
    severity=Severity.HIGH,
    remediation=(
        "Set `postgres.nodes` and `valkey.nodes` to 2 or 3 and their `size` to a plan with at least 2 GiB "
        "(db-s-1vcpu-2gb or larger). Staging may downgrade this policy to advisory "
        "(policies/config/staging.json)."
    ),
    types=(CLUSTER,),
    check=ha_problems,
)


def eviction_problems(props: dict, args) -> list[str]:
    engine = props.get("engine")
    if is_unknown(engine):
        return [f"{args.name}: its engine is not known at preview"]
    if engine not in QUEUE_ENGINES:
        return []
    policy = props.get("evictionPolicy")
    if policy == catalog.VALKEY_EVICTION_POLICY:
        return []
    shown = "not known at preview" if is_unknown(policy) else repr(policy) if policy else "not set"
    return [f"{args.name}: eviction policy is {shown}; Bull loses queued executions when keys are evicted, "
            f"so it must be {catalog.VALKEY_EVICTION_POLICY}"]


valkey_noeviction = resource_policy(
    name="valkey-noeviction",
    description=f"The Valkey queue store never evicts keys (eviction policy {catalog.VALKEY_EVICTION_POLICY}).",
    severity=Severity.HIGH,
    remediation=(
        f"Set `eviction_policy=\"{catalog.VALKEY_EVICTION_POLICY}\"` on the Valkey DatabaseCluster "
        "(components/valkey.py does); size the cluster so the queue fits in memory instead."
    ),
    types=(CLUSTER,),
    check=eviction_problems,
)


def backup_problems(spec: AppSpec, _args) -> list[str]:
    problems = []
    bindings = {d.get("name"): d for d in spec.databases()}
    for name, db in bindings.items():
        if db.get("production") is not True or not db.get("clusterName"):
            problems.append(f"database binding {name!r} is not a production cluster (production: true, "
                            "cluster_name): App Platform dev databases have no backups and no standby")
    for process in spec.n8n_components():
        db_type = process.value("DB_TYPE")
        if db_type != "postgresdb":
            shown = "not known at preview" if is_unknown(db_type) else repr(db_type) if db_type else "not set"
            problems.append(f"{process.name}: DB_TYPE is {shown}; n8n would keep workflows and credentials in "
                            "SQLite inside the container, which App Platform discards on every deploy")
            continue
        host = process.value("DB_POSTGRESDB_HOST")
        bound = bound_host(host)
        # A pool is PgBouncer in front of the cluster: the data still lives in the cluster, backed up.
        if bound is None or bindings.get(bound.binding, {}).get("engine") != catalog.POSTGRES.app_spec:
            shown = "not known at preview" if is_unknown(host) else repr(host)
            problems.append(f"{process.name}: DB_POSTGRESDB_HOST is {shown}, not the HOSTNAME of an attached "
                            "managed PostgreSQL cluster (${postgres.HOSTNAME}) or of its connection pool "
                            "(${postgres.<pool>.HOSTNAME}); only managed clusters are backed up")
    return problems


managed_database_backups = resource_policy(
    name="managed-database-backups",
    description=("n8n keeps its data in an attached production managed PostgreSQL cluster, which "
                 "DigitalOcean backs up daily with point-in-time recovery."),
    severity=Severity.HIGH,
    remediation=(
        "Keep DB_TYPE=postgresdb and DB_POSTGRESDB_HOST=${postgres.HOSTNAME} (or ${postgres.<pool>.HOSTNAME} "
        "for a connection pool of that cluster), and attach the clusters in the App spec with "
        "`production: true` and `cluster_name` (builders/app_spec.py)."
    ),
    types=(APP,),
    check=app_check(backup_problems),
)

POLICIES = [database_high_availability, valkey_noeviction, managed_database_backups]
