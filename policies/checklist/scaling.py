"""Checklist: instance sizes planned (and the scaling rules that make a size plan valid).

- main runs one instance: several mains need n8n's licensed multi-main mode, or schedules and webhooks
  run twice.
- App Platform autoscales only dedicated (`apps-d-*`) sizes and rejects `instance_count` together with
  autoscaling.
- Every component names its size from the catalog; nothing falls back to a default.
- The PostgreSQL connections every n8n process may open at maximum scale fit the cluster
  (policies/platform_model/capacity.py, shared with the settings validation).

Unknown values: a size, instance count or pool size unknown at preview is a violation (they are
literals here; the plan cannot be checked without them).
"""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, Severity

from platform_model import catalog, roles
from platform_model.capacity import deployment_connection_budget
from platform_model.catalog import APP, CLUSTER, CONNECTION_POOL
from platform_model.deployment import POOL_SIZE, ConnectionPool, from_app_spec
from platform_model.spec_fields import is_unknown, number
from platform_model.spec_reader import AppSpec, bound_host

from .resources import Stack, StackProblems, app_check, resource_policy, stack_policy

MULTI_MAIN = "N8N_MULTI_MAIN_SETUP_ENABLED"
LICENSE = "N8N_LICENSE_ACTIVATION_KEY"


def main_problems(spec: AppSpec, _args) -> list[str]:
    problems = []
    mains = [p for p in spec.n8n_processes() if p.role == roles.MAIN]
    licensed = bool(mains) and all(p.flag(MULTI_MAIN) is True and p.value(LICENSE) for p in mains)
    if len(mains) > 1 and not licensed:
        problems.append(f"{len(mains)} services run n8n as main ({', '.join(m.name for m in mains)}); without "
                        "n8n's licensed multi-main mode schedules and webhooks run twice")
    for main in mains:
        top = main.max_instances
        if is_unknown(top):
            problems.append(f"{main.name}: its instance count is not known at preview; main must run one instance")
        elif main.autoscaling is not None and not licensed:
            problems.append(f"{main.name} autoscales; main must run exactly one instance unless n8n's licensed "
                            f"multi-main mode is on ({MULTI_MAIN}=true and {LICENSE})")
        elif (count := number(top)) is not None and count > 1 and not licensed:
            problems.append(f"{main.name} runs {count:.0f} instances; main must run exactly one unless "
                            f"n8n's licensed multi-main mode is on ({MULTI_MAIN}=true and {LICENSE})")
    return problems


main_single_instance = resource_policy(
    name="main-single-instance",
    description="n8n main runs exactly one instance unless licensed multi-main mode is configured.",
    severity=Severity.HIGH,
    remediation=(
        "Keep `main.instances: 1` and no `main.autoscaling`; scale with worker pairs and webhook processors. "
        "More mains need `n8n.multiMain: true` and a `licenseKey` (n8n's multi-main is a licensed feature)."
    ),
    types=(APP,),
    check=app_check(main_problems),
)


def autoscaling_problems(spec: AppSpec, _args) -> list[str]:
    problems = []
    for component in spec.components():
        auto = component.autoscaling
        if auto is None:
            continue
        n = component.name
        if is_unknown(auto):
            problems.append(f"{n}: its autoscaling is not known at preview")
            continue
        slug = component.size
        size = catalog.APP_SIZES.get(slug) if isinstance(slug, str) else None
        if size is None or not size.dedicated:
            shown = "an unknown size" if is_unknown(slug) else f"{slug}"
            problems.append(f"{n} autoscales on {shown}; App Platform autoscales dedicated sizes (apps-d-*) only")
        if component.data.get("instanceCount") is not None:
            problems.append(f"{n} sets instance_count together with autoscaling, which App Platform rejects; "
                            "use autoscaling's min_instance_count")
        low, high = number(auto.get("minInstanceCount")), number(auto.get("maxInstanceCount"))
        if low is None or high is None or low > high:
            problems.append(f"{n}: autoscaling needs known min_instance_count <= max_instance_count")
    return problems


autoscaling_dedicated_sizes = resource_policy(
    name="autoscaling-dedicated-sizes",
    description="Only dedicated (apps-d-*) sizes autoscale, and never together with instance_count.",
    severity=Severity.MEDIUM,
    remediation=(
        "Pick an apps-d-* size for any component with `autoscaling`, and drop `instances` when autoscaling "
        "is set (`autoscaling.minInstances` replaces it)."
    ),
    types=(APP,),
    check=app_check(autoscaling_problems),
)


def size_problems(props: dict, args) -> list[str]:
    if args.resource_type == CLUSTER:
        size = props.get("size")
        if size not in catalog.DATABASE_SIZES:
            shown = "not known at preview" if is_unknown(size) else repr(size)
            return [f"{args.name}: size {shown} is not a planned managed database size "
                    f"({', '.join(catalog.DATABASE_SIZES)})"]
        return []
    return list(app_check(_app_size_problems)(props, args))


def _app_size_problems(spec: AppSpec, _args) -> list[str]:
    problems = []
    for component in spec.components():
        slug = component.size
        size = catalog.APP_SIZES.get(slug) if isinstance(slug, str) else None
        if size is None:
            shown = ("not set, so App Platform picks its default" if slug is None
                     else "not known at preview" if is_unknown(slug) else f"{slug!r}, not an App Platform size")
            problems.append(f"{component.name}: instance_size_slug is {shown}; name a size from the plan")
            continue
        top = number(component.max_instances)
        if size.fixed and top is not None and top > 1:
            problems.append(f"{component.name}: {slug} is a fixed size that runs one instance, not {top:.0f}")
    return problems


instance_sizes_planned = resource_policy(
    name="instance-sizes-planned",
    description="Every component and database cluster names an explicit size from the catalog.",
    severity=Severity.MEDIUM,
    remediation=(
        "Set `main.size`, `workers.size`, `runners.size`, `webhooks.size`, `postgres.size` and `valkey.size` "
        "to sizes listed in policies/platform_model/catalog.py; fixed sizes (apps-s-1vcpu-0.5gb, "
        "apps-s-1vcpu-1gb-fixed) run one instance only."
    ),
    types=(APP, CLUSTER),
    check=size_problems,
)


# --- connection budget ---------------------------------------------------------------------------

def _postgres_of(stack: Stack, app, spec: AppSpec):
    """The pg cluster the app attaches: by binding cluster name, else the pg cluster its spec depends on."""
    names = {d.get("clusterName") for d in spec.databases() if d.get("engine") == catalog.POSTGRES.app_spec}
    clusters = [c for c in stack.of_type(CLUSTER) if stack.props(c).get("engine") == catalog.POSTGRES.cluster]
    by_name = [c for c in clusters if stack.props(c).get("name") in names]
    found = by_name or [c for c in clusters if stack.depends_on(app, "spec", c)]
    return found[0] if found else None


def _pool_size(stack: Stack, spec: AppSpec, cluster) -> int | None:
    """Server connections of the PgBouncer pool every n8n process connects through, when that pool is
    one of this stack's on this cluster: then only the pool's connections count against the cluster.
    Any process that connects directly (or to a pool this stack does not create) counts every
    connection, as if there were no pool."""
    hosts = {bound_host(p.value("DB_POSTGRESDB_HOST")) for p in spec.n8n_processes()}
    names = {h.pool for h in hosts if h is not None}
    if len(hosts) != 1 or None in names:
        return None
    for pool in stack.of_type(CONNECTION_POOL):
        props = stack.props(pool)
        size = number(props.get("size"))
        if size is not None and props.get("name") in names and stack.depends_on(pool, "clusterId", cluster):
            return int(size)
    return None


def connection_budget_problems(stack: Stack) -> StackProblems:
    for app, spec, _problems in stack.apps():
        if spec is None:
            continue
        cluster = _postgres_of(stack, app, spec)
        if cluster is None:
            continue
        size = stack.props(cluster).get("size")
        if size not in catalog.DATABASE_SIZES:
            continue  # instance-sizes-planned reports it
        pool = _pool_size(stack, spec, cluster)
        d = from_app_spec(spec.data, postgres=size, connection_pool=None if pool is None else ConnectionPool(pool))
        unknown = [c.name for c in d.playing(*roles.N8N_PROCESSES) if None in (c.db_pool_size, c.max_instances)]
        if unknown:
            yield app.urn, (f"cannot count PostgreSQL connections: {POOL_SIZE} or the instance count of "
                            f"{', '.join(unknown)} is not a known number")
            continue
        budget = deployment_connection_budget(d)
        if not budget.fits:
            yield cluster.urn, (f"{cluster.name}: n8n may open more PostgreSQL connections than the cluster "
                                f"allows: {budget.working}")


connection_budget_policy = stack_policy(
    name="connection-budget",
    description=("The PostgreSQL connections every n8n process can open at maximum scale fit the cluster's "
                 "connection limit."),
    severity=Severity.MEDIUM,
    remediation=(
        "Choose a larger `postgres.size`, fewer worker pairs or a smaller `n8n.dbPoolSize`. DigitalOcean "
        "allows 25 connections per GiB of RAM minus 3; each n8n process opens DB_POSTGRESDB_POOL_SIZE."
    ),
    check=connection_budget_problems,
    level=EnforcementLevel.ADVISORY,  # a sizing judgement, not a security rule
)

POLICIES = [main_single_instance, autoscaling_dedicated_sizes, instance_sizes_planned, connection_budget_policy]
