"""Checklist: database trusted sources, database access restricted, access roles (and TLS to both).

A managed cluster without trusted sources accepts connections from the whole internet to anyone with
the password; with a rule `type: app` it admits only that App Platform app. VPC attachment gives each
cluster a private host reachable only inside the VPC; the app joins the VPC only where the team has App
Platform's VPC preview (`app.vpc`), and otherwise reaches the clusters' public hosts. Either way n8n must
connect as its own user (`n8n`), never as `doadmin`, over TLS with the server certificate verified.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from pulumi_policy import PolicyConfigSchema, Severity

from platform_model import catalog
from platform_model.catalog import APP, CLUSTER, FIREWALL, VPC
from platform_model.spec_fields import is_unknown
from platform_model.spec_reader import AppSpec

from .resources import Stack, StackProblems, app_check, resource_policy, stack_policy

# --- trusted sources -----------------------------------------------------------------------------

ALLOWED_SOURCES = "allowedSources"
_EXTRA_TYPES = ("ip_addr", "droplet", "k8s", "tag")


# DigitalOcean VPCs use RFC 1918 ranges; every other range (0.0.0.0/0 included) is reachable from outside.
PRIVATE_RANGES = tuple(ipaddress.IPv4Network(r) for r in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))


def _is_public(value: str) -> bool:
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        return True  # not an address range we can show to be private
    return not (isinstance(network, ipaddress.IPv4Network) and any(network.subnet_of(r) for r in PRIVATE_RANGES))


def _rule_problem(stack: Stack, firewall, rule: Any, allowed: set[str]) -> str | None:
    if not isinstance(rule, dict):
        return "has a rule that is not known at preview"
    kind, value = rule.get("type"), rule.get("value")
    if is_unknown(kind):
        return "has a rule whose type is not known at preview"
    if kind == "app":
        # The app id is computed, so the value is often unknown at preview; what matters is that it is
        # this stack's app, which the engine's dependency edges show.
        if not stack.dependencies_of_type(firewall, "rules", APP):
            return f"trusts app {value!r}, which is not an App of this stack"
        return None
    if is_unknown(value):
        return f"has a {kind} rule whose value is not known at preview"
    if kind == "ip_addr" and _is_public(str(value)):
        return f"admits {value}, a public address range: the database is open to the internet"
    if f"{kind}:{value}" in allowed:
        return None
    return (f"admits {kind} {value!r}; only this stack's app is trusted unless "
            f"`{ALLOWED_SOURCES}` lists \"{kind}:{value}\"")


def trusted_source_problems(stack: Stack) -> StackProblems:
    allowed = set(stack.config.get(ALLOWED_SOURCES) or [])
    for cluster in stack.of_type(CLUSTER):
        firewalls = [f for f in stack.of_type(FIREWALL) if stack.depends_on(f, "clusterId", cluster)]
        if not firewalls:
            yield cluster.urn, (f"{cluster.name} has no DatabaseFirewall: anyone with the password can "
                                "connect from the internet")
        for firewall in firewalls:
            rules = stack.props(firewall).get("rules")
            if is_unknown(rules):
                yield firewall.urn, f"{firewall.name}: its rules are not known at preview"
                continue
            if not rules:
                yield firewall.urn, f"{firewall.name} has no rules, so it trusts no one in particular"
            for rule in rules or []:
                problem = _rule_problem(stack, firewall, rule, allowed)
                if problem:
                    yield firewall.urn, f"{firewall.name} {problem}"


database_trusted_sources = stack_policy(
    name="database-trusted-sources",
    description=("Every database cluster has trusted sources that admit only this stack's app, never a "
                 "public address range."),
    severity=Severity.CRITICAL,
    remediation=(
        "Give every DatabaseCluster a DatabaseFirewall with `rules=[{\"type\": \"app\", \"value\": app.id}]` "
        "(components/app.py does). Never add an `ip_addr` rule for 0.0.0.0/0 or any public range; to admit "
        "a bastion droplet, tag or private range, list it as \"<type>:<value>\" in this policy's "
        f"`{ALLOWED_SOURCES}` in the policy-pack config."
    ),
    check=trusted_source_problems,
    config_schema=PolicyConfigSchema(properties={
        ALLOWED_SOURCES: {
            "type": "array",
            "items": {"type": "string", "pattern": f"^({'|'.join(_EXTRA_TYPES)}):.+$"},
            "default": [],
        },
    }),
)


# --- private network -----------------------------------------------------------------------------

REQUIRE_APP_VPC = "requireAppVpc"
# Host settings of the processes that connect to PostgreSQL or Valkey.
HOST_VARIABLES = ("DB_POSTGRESDB_HOST", "QUEUE_BULL_REDIS_HOST", "PGHOST")
# DigitalOcean names a cluster's or pool's VPC-only host `private-<public host>` (OpenAPI examples,
# databases/responses/database_cluster.yml: `private_connection.host`).
PRIVATE_HOST_PREFIX = "private-"


def _app_vpc(spec: AppSpec) -> Any:
    vpcs = spec.data.get("vpcs")
    if is_unknown(vpcs):
        return vpcs
    first = (vpcs or [None])[0]
    return first.get("id") if isinstance(first, dict) else None


def _same_vpc(stack: Stack, cluster, cluster_vpc: Any, app, app_vpc: Any) -> bool:
    if not is_unknown(cluster_vpc) and not is_unknown(app_vpc):
        return cluster_vpc == app_vpc
    # Unknown ids at preview: compare the VPC resources both were computed from.
    cluster_side = {d.urn for d in stack.dependencies_of_type(cluster, "privateNetworkUuid", VPC)}
    app_side = {d.urn for d in stack.dependencies_of_type(app, "spec", VPC)}
    return bool(cluster_side) and cluster_side <= app_side


def _private_hosts(spec: AppSpec) -> list[str]:
    """Where a component outside the VPC would connect to a VPC-only host, which it cannot reach."""
    return [f"{c.name}: {key} is a private host" for c in spec.components() for key in HOST_VARIABLES
            if isinstance(c.value(key), str) and c.value(key).startswith(PRIVATE_HOST_PREFIX)]


def _app_problems(stack: Stack, app, spec: AppSpec, clusters: list) -> StackProblems:
    vpc = _app_vpc(spec)
    if not vpc:
        if stack.config.get(REQUIRE_APP_VPC):
            yield app.urn, (f"{app.name} is not attached to a VPC (spec.vpcs), and `{REQUIRE_APP_VPC}` asks for it: "
                            "set app.vpc: true (it needs App Platform's VPC preview on the team)")
        for where in _private_hosts(spec):
            yield app.urn, (f"{where}, reachable only inside the VPC, and {app.name} is not attached to it: n8n "
                            "cannot connect. Use the public host, or attach the app (app.vpc: true)")
        return
    for cluster, cluster_vpc in clusters:
        if not _same_vpc(stack, cluster, cluster_vpc, app, vpc):
            yield cluster.urn, f"{cluster.name} and {app.name} are not attached to the same VPC"


def private_network_problems(stack: Stack) -> StackProblems:
    clusters = []
    for cluster in stack.of_type(CLUSTER):
        vpc = stack.props(cluster).get("privateNetworkUuid")
        if not vpc:
            yield cluster.urn, f"{cluster.name} is not attached to a VPC (privateNetworkUuid)"
        else:
            clusters.append((cluster, vpc))
    for app, spec, _ in stack.apps():
        if spec is not None:
            yield from _app_problems(stack, app, spec, clusters)


private_network = stack_policy(
    name="private-network",
    description=("Database clusters are attached to a VPC; an app attached to a VPC shares theirs, and an app "
                 "outside it never points n8n at a VPC-only host."),
    severity=Severity.HIGH,
    remediation=(
        "Set `private_network_uuid=vpc.id` on every DatabaseCluster (components/database.py). Attaching the app "
        "(`app.vpc: true`, App spec `vpcs=[{\"id\": vpc.id}]` from the same `digitalocean.Vpc`) needs App "
        "Platform's VPC preview on the team; without it n8n connects to the clusters' public hostnames, and "
        "what protects that traffic is `database-tls` (TLS with the certificate verified) and "
        "`database-trusted-sources` (each cluster admits only this app). Set this policy's "
        f"`{REQUIRE_APP_VPC}: true` to demand the attachment."
    ),
    check=private_network_problems,
    config_schema=PolicyConfigSchema(properties={REQUIRE_APP_VPC: {"type": "boolean", "default": False}}),
)


# --- TLS -----------------------------------------------------------------------------------------

VERIFYING_SSL_MODES = ("verify-ca", "verify-full")


def tls_problems(spec: AppSpec, _args) -> list[str]:
    problems = []
    for process in spec.n8n_components():
        n = process.name
        enabled = process.flag("DB_POSTGRESDB_SSL_ENABLED")
        if enabled is not True:
            why = "is not known at preview" if is_unknown(enabled) else "is not true"
            problems.append(f"{n}: DB_POSTGRESDB_SSL_ENABLED {why}; n8n then talks to PostgreSQL without TLS")
        reject = process.flag("DB_POSTGRESDB_SSL_REJECT_UNAUTHORIZED")
        if reject is False or is_unknown(reject):
            problems.append(f"{n}: DB_POSTGRESDB_SSL_REJECT_UNAUTHORIZED is "
                            f"{'unknown at preview' if is_unknown(reject) else 'false'}; the PostgreSQL "
                            "certificate must be verified")
        if not process.value("DB_POSTGRESDB_SSL_CA"):
            problems.append(f"{n}: DB_POSTGRESDB_SSL_CA is not set; give it the cluster CA "
                            "(${postgres.CA_CERT}) so the certificate can be verified")
        redis_tls = process.flag("QUEUE_BULL_REDIS_TLS")
        if redis_tls is not True:
            why = "is not known at preview" if is_unknown(redis_tls) else "is not true"
            problems.append(f"{n}: QUEUE_BULL_REDIS_TLS {why}; managed Valkey accepts TLS connections only")
        if process.flag("QUEUE_BULL_REDIS_TLS_VALIDATE_CERTIFICATE") is False:
            problems.append(f"{n}: QUEUE_BULL_REDIS_TLS_VALIDATE_CERTIFICATE is false; the Valkey certificate "
                            "must be verified")
    for component in spec.components():
        mode = component.value("PGSSLMODE")
        if "PGHOST" in component.env and mode not in VERIFYING_SSL_MODES:
            problems.append(f"{component.name}: PGSSLMODE is {mode!r}; use verify-full so psql checks the "
                            "server certificate")
    return problems


database_tls = resource_policy(
    name="database-tls",
    description="Every connection to PostgreSQL and Valkey uses TLS and verifies the server certificate.",
    severity=Severity.HIGH,
    remediation=(
        "Keep DB_POSTGRESDB_SSL_ENABLED=true, DB_POSTGRESDB_SSL_CA=${postgres.CA_CERT} and "
        "DB_POSTGRESDB_SSL_REJECT_UNAUTHORIZED=true (builders/env.py `n8n_common_env`), "
        "QUEUE_BULL_REDIS_TLS=true, and PGSSLMODE=verify-full for psql. DigitalOcean's n8n template turns "
        "verification off; do not copy that."
    ),
    types=(APP,),
    check=app_check(tls_problems),
)


# --- access roles --------------------------------------------------------------------------------

ADMIN_USER = "doadmin"
PRE_DEPLOY = "PRE_DEPLOY"


def access_role_problems(spec: AppSpec, _args) -> list[str]:
    problems = []
    bindings = {d.get("name"): d for d in spec.databases()}
    for name, db in bindings.items():
        user = db.get("dbUser")
        if db.get("engine") == catalog.POSTGRES.app_spec and (user in (None, "", ADMIN_USER) or is_unknown(user)):
            problems.append(f"database binding {name!r} has no dedicated dbUser, so its bindable "
                            f"USERNAME/PASSWORD are {ADMIN_USER}'s; set dbUser to n8n's own user")
    for process in spec.n8n_components():
        user = process.value("DB_POSTGRESDB_USER")
        if user is None or is_unknown(user):
            problems.append(f"{process.name}: DB_POSTGRESDB_USER is "
                            f"{'not known at preview' if user is not None else 'not set'}; it must name n8n's "
                            f"own user (e.g. ${{postgres.USERNAME}} of a binding with dbUser), not {ADMIN_USER}")
        elif user == ADMIN_USER:
            problems.append(f"{process.name}: n8n connects as {ADMIN_USER}; use its own user")
    for component in spec.components():
        if component.value("PGUSER") == ADMIN_USER and component.data.get("kind") != PRE_DEPLOY:
            problems.append(f"{component.name}: only the pre-deploy job that grants n8n its schema may use "
                            f"{ADMIN_USER}")
    return problems


database_access_roles = resource_policy(
    name="database-access-roles",
    description=f"n8n connects with its own database user; {ADMIN_USER} appears only in the pre-deploy job.",
    severity=Severity.HIGH,
    remediation=(
        "Attach PostgreSQL with `db_name`/`db_user` (App spec `databases`) and point DB_POSTGRESDB_USER and "
        "DB_POSTGRESDB_PASSWORD at that binding's ${postgres.USERNAME}/${postgres.PASSWORD}. Only the "
        f"PRE_DEPLOY job `n8n-db-grants` runs as {ADMIN_USER}, with its password as a SECRET env var."
    ),
    types=(APP,),
    check=app_check(access_role_problems),
)

POLICIES = [database_trusted_sources, private_network, database_tls, database_access_roles]
