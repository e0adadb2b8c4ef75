"""The App spec pieces of observability and hardening: n8n's env vars for logs, metrics, retention and
privacy; the `/metrics` ingress block; log destinations on every component; the metrics collector.

Every n8n variable here was read in n8n 2.41.1: @n8n/config (logging.config.js, endpoints.config.js
PrometheusMetricsConfig, diagnostics.config.js, version-notifications.config.js, executions.config.js,
security.config.js, auth.config.js) and n8n-workflow's workflow-data-proxy-env-provider.js
(N8N_BLOCK_ENV_ACCESS_IN_NODE, read directly from the environment).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import yaml

from platform_model import catalog
from platform_model.ingress import redirect_rule
from platform_model.topology import COLLECTOR
from settings.model import LogDestination, Settings

from .deployment import runs_collector
from .env import secret, var
from .observability import collector_config

LOG_DESTINATION_NAME = "n8n-logs"
SYSLOG_TLS_SCHEME = "syslog+tls://"  # how Papertrail writes its endpoints; App Platform takes either form
# Where a request for /metrics through the public URL is sent instead: the editor's start page.
METRICS_REDIRECT_URI = "/"


def _flag(on: bool) -> str:
    return "true" if on else "false"


def n8n_env(s: Settings, is_main: bool) -> list[dict]:
    """Logs, metrics, retention and privacy for one n8n process (main polls the queue metrics)."""
    logs, metrics, ex, h = s.observability.logs, s.observability.metrics, s.executions, s.hardening
    env = [
        var("N8N_LOG_LEVEL", logs.level),
        var("N8N_LOG_FORMAT", logs.format),
        var("N8N_LOG_OUTPUT", "console"),  # App Platform collects stdout; a file would fill the container
        var("N8N_DIAGNOSTICS_ENABLED", _flag(h.diagnostics)),
        var("N8N_VERSION_NOTIFICATIONS_ENABLED", _flag(h.version_notifications)),
        var("N8N_BLOCK_ENV_ACCESS_IN_NODE", _flag(h.block_env_access)),
        var("N8N_RESTRICT_FILE_ACCESS_TO", h.restrict_file_access_to),
        var("N8N_SECURE_COOKIE", "true"),  # the editor is only ever served over App Platform's HTTPS
        var("EXECUTIONS_DATA_PRUNE", _flag(ex.prune)),
        var("EXECUTIONS_DATA_MAX_AGE", str(ex.max_age_hours)),
        var("EXECUTIONS_DATA_PRUNE_MAX_COUNT", str(ex.max_count)),
        var("EXECUTIONS_DATA_SAVE_ON_SUCCESS", "all" if ex.save_successful else "none"),
        var("EXECUTIONS_DATA_SAVE_MANUAL_EXECUTIONS", _flag(ex.save_manual)),
        var("N8N_METRICS", _flag(metrics.enabled)),
    ]
    if metrics.enabled:
        env += [var("N8N_METRICS_INCLUDE_DB_POOL_METRICS", "true"),
                # n8n_node_started_total, n8n_runner_task_requested_total... (one counter per event)
                var("N8N_METRICS_INCLUDE_MESSAGE_EVENT_BUS_METRICS", "true"),
                # node_type on the node counters: the runner alert counts Code nodes (tens of values, no ids)
                var("N8N_METRICS_INCLUDE_NODE_TYPE_LABEL", "true")]
    if metrics.enabled and is_main:
        env += [var("N8N_METRICS_INCLUDE_QUEUE_METRICS", "true"),
                var("N8N_METRICS_QUEUE_METRICS_INTERVAL", str(catalog.QUEUE_METRICS_INTERVAL_SECONDS))]
    return env


def metrics_ingress_rules() -> list[dict]:
    """`/metrics` is answered by the edge with a redirect, so it never reaches main (whose `/` rule would
    otherwise serve n8n's unauthenticated metrics to the internet). The collector scrapes main inside the app."""
    return [redirect_rule(catalog.METRICS_PATH, METRICS_REDIRECT_URI)]


def _when_known(value: Any, build: Callable[[Any], Any]) -> Any:
    """`build(value)`, or, for a Pulumi Output (a secret), the Output of it: builders stay free of Pulumi."""
    return value.apply(build) if hasattr(value, "apply") else build(value)


def log_destinations(s: Settings, credential: Any) -> list[dict]:
    dest: LogDestination | None = s.observability.logs.destination
    if dest is None:
        return []
    if dest.kind == "datadog":
        target = {"api_key": credential, **({"endpoint": dest.endpoint} if dest.endpoint else {})}
    elif dest.kind == "papertrail":
        target = {"endpoint": dest.endpoint}
    else:
        target = {"endpoint": dest.endpoint, "index_name": dest.index_name,
                  "basic_auth": {"user": dest.user, "password": credential}}
    return [{"name": LOG_DESTINATION_NAME, {"openSearch": "open_search"}.get(dest.kind, dest.kind): target}]


def database_log_sink(s: Settings, credential: Any) -> tuple[str, dict] | None:
    """PostgreSQL's own logs to the app's log destination (`observability.logs.database`): the DigitalOcean
    log sink's resource type and its arguments (pulumi-digitalocean 4.84.1), or None."""
    dest = s.observability.logs.destination
    if not s.observability.logs.database or dest is None:
        return None
    if dest.kind == "papertrail":
        # Papertrail's endpoint takes TLS syslog; unencrypted, every query PostgreSQL logs would cross the
        # internet in clear.
        host, port = str(dest.endpoint).removeprefix(SYSLOG_TLS_SCHEME).rsplit(":", 1)
        return catalog.RSYSLOG_SINK, {"server": host, "port": int(port), "tls": True, "format": "rfc5424"}
    # The OpenSearch sink has no user or password field: DigitalOcean reads them from the URL, which
    # therefore carries the credential and is handled as a secret.
    return catalog.OPENSEARCH_SINK, {
        "endpoint": _when_known(credential, lambda password: _with_basic_auth(str(dest.endpoint), str(dest.user),
                                                                                password)),
        # Its own daily indices, apart from the app's: PostgreSQL's records have another shape.
        "index_prefix": f"{dest.index_name}-postgres",
    }


def _with_basic_auth(url: str, user: str, password: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{quote(user, safe='')}:{quote(password, safe='')}@{rest}"


def collector_run_command(replaces: str) -> str:
    flag = f"--config=env:{catalog.COLLECTOR_CONFIG_ENV}"
    return flag if replaces == "cmd" else f"{catalog.COLLECTOR_EXECUTABLE} {flag}"


def collector_env(s: Settings, authorization: Any) -> list[dict]:
    def render(header: str | None) -> str:
        return yaml.safe_dump(collector_config(s, header), sort_keys=False)

    if authorization is None:
        return [var(catalog.COLLECTOR_CONFIG_ENV, render(None))]
    return [secret(catalog.COLLECTOR_CONFIG_ENV, _when_known(authorization, render))]


def collector_component(s: Settings, authorization: Any, image: dict, alerts: list[dict]) -> dict | None:
    """An App Platform worker (no inbound traffic) that scrapes every n8n process and ships the metrics."""
    if not runs_collector(s):
        return None
    return {
        "name": COLLECTOR,
        "image": image,
        "run_command": collector_run_command(s.app.run_command_replaces),
        "instance_size_slug": s.observability.metrics.collector_size,
        "instance_count": 1,
        "envs": collector_env(s, authorization),
        "alerts": alerts,
    }
