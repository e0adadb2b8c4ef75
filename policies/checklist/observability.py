"""Checklist: observability that does not leak, and execution data that cannot fill the database.

n8n's `/metrics` has no authentication and is served by main on the port App Platform exposes publicly
(n8n 2.41.1 `prometheus.service.js`): routed publicly, it tells anyone the workflow counts, queue depth,
versions and (with labels on) workflow names. Health endpoints may stay public — the uptime check needs one.
Without pruning, every execution's data stays in PostgreSQL until the disk is full.
A database log sink ships every statement PostgreSQL logs, values included, over the internet: in clear
over plain syslog, and DigitalOcean's OpenSearch sink takes its password inside the URL, which the state
keeps in plain text unless the resource declares that output secret.
"""

from __future__ import annotations

from pulumi_policy import Severity

from platform_model.catalog import METRICS_PATH, OPENSEARCH_SINK, RSYSLOG_SINK
from platform_model.ingress import spec_route

from .resources import APP, AppSpec, app_check, resource_policy


def public_metrics_problems(spec: AppSpec, _args) -> list[str]:
    route = spec_route(spec.data, METRICS_PATH)
    if route is None:
        return []
    exposed = [c for c in spec.n8n_processes() if c.name == route.public_component and c.flag("N8N_METRICS") is True]
    return [f"the public URL routes {METRICS_PATH} to {c.name}, which serves n8n's unauthenticated Prometheus "
            f"metrics (ingress rule prefix {route.prefix!r})" for c in exposed]


metrics_not_public = resource_policy(
    name="metrics-not-public",
    description="n8n's /metrics endpoint is never reachable through the app's public URL.",
    severity=Severity.HIGH,
    remediation=("Keep the ingress rule that answers /metrics with a redirect (builders/observability_spec.py); "
                 "the metrics collector scrapes n8n inside the app. Or set observability.metrics.enabled: false."),
    types=(APP,),
    check=app_check(public_metrics_problems),
)


def pruning_problems(spec: AppSpec, _args) -> list[str]:
    return [f"{c.name} has EXECUTIONS_DATA_PRUNE=false: execution data grows until PostgreSQL's disk is full"
            for c in spec.n8n_processes() if c.flag("EXECUTIONS_DATA_PRUNE") is False]


execution_pruning = resource_policy(
    name="execution-pruning",
    description="n8n prunes old execution data (EXECUTIONS_DATA_PRUNE is not false).",
    severity=Severity.MEDIUM,
    remediation="Set executions.prune: true (the default) and tune executions.maxAgeHours / executions.maxCount.",
    types=(APP,),
    check=app_check(pruning_problems),
)

def log_sink_problems(props: dict, args) -> list[str]:
    if args.resource_type == RSYSLOG_SINK:
        return [] if props.get("tls") is True else [
            f"{args.name}: tls is {props.get('tls')}; PostgreSQL's log lines would cross the internet in clear"]
    scheme, _, rest = str(props.get("endpoint", "")).partition("://")
    problems = [] if scheme == "https" else [f"{args.name}: the OpenSearch endpoint is not https"]
    carries_password = "@" in rest.split("/", 1)[0]
    if carries_password and "endpoint" not in args.opts.additional_secret_outputs:
        problems.append(f"{args.name}: its endpoint carries the OpenSearch password but is not a secret output; "
                        "the state would keep the password in plain text")
    return problems


database_log_sink_secure = resource_policy(
    name="database-log-sink-secure",
    description="A PostgreSQL log sink sends over TLS and keeps its credential a Pulumi secret.",
    severity=Severity.HIGH,
    remediation=("Set observability.logs.database with a papertrail or openSearch destination and the password in "
                 "`pulumi config set --secret logDestinationSecret`: components/postgres.py builds the sink with "
                 "tls on (rsyslog) or the endpoint as a secret with additional_secret_outputs (OpenSearch)."),
    types=(RSYSLOG_SINK, OPENSEARCH_SINK),
    check=log_sink_problems,
)

POLICIES = [metrics_not_public, execution_pruning, database_log_sink_secure]
