"""The App Platform app spec, built as plain data in the API's shape (what `doctl apps create --spec`
reads), and the adapter to the Pulumi SDK's argument shape.

Pure: no Pulumi runtime. Leaf values may be Pulumi Outputs (secrets, the VPC id, cluster names) when the
component passes them, or plain strings when the spec is rendered offline.
"""

from __future__ import annotations

from typing import Any

from platform_model import catalog
from platform_model.topology import DB_NAME, DB_SETUP_JOB, DB_USER, POSTGRES_BINDING, VALKEY_BINDING, Topology
from platform_model.upgrade import downgrade_guard_sql
from settings.model import AlertSettings, Autoscaling, Settings

from . import env
from .backup_spec import backup_worker
from .env import SecretValues
from .names import topology_for
from .observability_spec import collector_component, log_destinations, metrics_ingress_rules, n8n_env

# The launcher's `/healthz` always answers 200 (n8n-io/task-runner-launcher 1.4.3,
# internal/http/healthcheck_server.go): it proves only that the launcher process is alive.
RUNNER_HEALTH_PATH = "/healthz"
WEBHOOK_PATHS = ("/webhook/", "/webhook-waiting/")  # main keeps /webhook-test/ for the editor
APP_ALERT_RULES = ("DEPLOYMENT_FAILED", "DOMAIN_FAILED")


def image(repository: tuple[str, str], pin: dict, credentials: Any = None) -> dict:
    """A Docker Hub image pinned by `pin` ({"tag": ...} or {"digest": ...}); pulled with `credentials` when
    given, anonymously otherwise."""
    registry, repo = repository
    pulled = {"registry_type": catalog.DOCKER_HUB, "registry": registry, "repository": repo, **pin}
    return pulled if credentials is None else {**pulled, "registry_credentials": credentials}


def image_pins(s: Settings) -> dict[str, dict]:
    """How the n8n and runners images are pinned: by the release's tag, or by the digests read for it
    (App Platform's image spec takes a tag or a digest; a digest pins the bytes a tag may later move off)."""
    if s.n8n.digests is None:
        return {"n8n": {"tag": s.n8n.version}, "runners": {"tag": s.n8n.version}}
    return {"n8n": {"digest": s.n8n.digests.n8n}, "runners": {"digest": s.n8n.digests.runners}}


def _health_check(path: str, port: int) -> dict:
    # n8n runs its database migrations before it answers, so give it time on first start.
    return {
        "http_path": path,
        "port": port,
        "initial_delay_seconds": 30,
        "period_seconds": 10,
        "timeout_seconds": 5,
        "success_threshold": 1,
        "failure_threshold": 6,
    }


def _n8n_checks(port: int) -> dict:
    """Readiness routes traffic and gates deployments; liveness restarts. n8n's liveness endpoint does not
    read the database, so a database failover takes instances out of rotation without restarting them."""
    return {"health_check": _health_check(catalog.READINESS_PATH, port),
            "liveness_health_check": _health_check(catalog.LIVENESS_PATH, port)}


def _scaling(instances: int, auto: Autoscaling | None) -> dict:
    if auto is None:
        return {"instance_count": instances}
    return {
        "autoscaling": {
            "min_instance_count": auto.min_instances,
            "max_instance_count": auto.max_instances,
            "metrics": {"cpu": {"percent": auto.cpu_percent}},
        }
    }


def component_alerts(a: AlertSettings) -> list[dict]:
    return [
        {"rule": "CPU_UTILIZATION", "operator": "GREATER_THAN", "value": a.cpu_percent, "window": "FIVE_MINUTES"},
        {"rule": "MEM_UTILIZATION", "operator": "GREATER_THAN", "value": a.memory_percent, "window": "FIVE_MINUTES"},
        {"rule": "RESTART_COUNT", "operator": "GREATER_THAN", "value": a.restart_count, "window": "FIVE_MINUTES"},
    ]


def _termination(s: Settings, drain: bool) -> dict:
    grace = {"grace_period_seconds": s.n8n.graceful_shutdown_seconds + catalog.SHUTDOWN_MARGIN_SECONDS}
    return {**grace, "drain_seconds": 15} if drain else grace


def _main(s: Settings, top: Topology, secrets: SecretValues, pin: dict) -> dict:
    svc = {
        "name": top.main,
        "image": image(catalog.N8N_IMAGE, pin, secrets.docker_hub_credentials),
        # n8n's image would run `n8n` (= start) anyway; saying so lets the policy pack tell main from a
        # worker whatever registry the image is later pulled from (policies/platform_model/roles.py).
        "run_command": catalog.n8n_run_command("start", s.app.run_command_replaces),
        "instance_size_slug": s.main.size,
        **_scaling(s.main.instances, s.main.autoscaling),
        "http_port": catalog.N8N_HTTP_PORT,
        **_n8n_checks(catalog.N8N_HTTP_PORT),
        "termination": _termination(s, drain=True),
        "envs": env.main_env(s, top, secrets) + n8n_env(s, is_main=True),
        "alerts": component_alerts(s.alerts),
    }
    if top.main in top.brokers:
        svc["internal_ports"] = [catalog.BROKER_PORT]
    return svc


def _worker(s: Settings, name: str, secrets: SecretValues, pin: dict) -> dict:
    # A service, not a worker component: only services expose internal ports, and the runner pool must
    # reach this worker's broker. Exactly one instance: the pool addresses it by service name.
    return {
        "name": name,
        "image": image(catalog.N8N_IMAGE, pin, secrets.docker_hub_credentials),
        "run_command": catalog.n8n_run_command("worker", s.app.run_command_replaces),
        "instance_size_slug": s.workers.size,
        "instance_count": 1,
        "internal_ports": [catalog.N8N_HTTP_PORT, catalog.BROKER_PORT],
        **_n8n_checks(catalog.N8N_HTTP_PORT),
        "termination": _termination(s, drain=False),
        "envs": env.worker_env(s, name, secrets) + n8n_env(s, is_main=False),
        "alerts": component_alerts(s.alerts),
    }


def _webhook(s: Settings, top: Topology, secrets: SecretValues, pin: dict) -> dict:
    return {
        "name": top.webhook,
        "image": image(catalog.N8N_IMAGE, pin, secrets.docker_hub_credentials),
        "run_command": catalog.n8n_run_command("webhook", s.app.run_command_replaces),
        "instance_size_slug": s.webhooks.size,
        **_scaling(s.webhooks.processors, s.webhooks.autoscaling),
        "http_port": catalog.N8N_HTTP_PORT,
        **_n8n_checks(catalog.N8N_HTTP_PORT),
        "termination": _termination(s, drain=True),
        "envs": env.webhook_env(s, secrets) + n8n_env(s, is_main=False),
        "alerts": component_alerts(s.alerts),
    }


def _runner_pool(s: Settings, pool, secrets: SecretValues, pin: dict) -> dict:
    return {
        "name": pool.name,
        "image": image(catalog.RUNNERS_IMAGE, pin, secrets.docker_hub_credentials),
        "instance_size_slug": s.runners.size,
        **_scaling(s.runners.instances, s.runners.autoscaling),
        "liveness_health_check": _health_check(RUNNER_HEALTH_PATH, catalog.RUNNER_HEALTH_PORT),
        "envs": env.runner_pool_env(s, pool.broker_uri, secrets.runner_tokens[pool.broker]),
        "alerts": component_alerts(s.alerts),
    }


def _db_setup_job(s: Settings, secrets: SecretValues) -> dict:
    return {
        "name": DB_SETUP_JOB,
        "kind": "PRE_DEPLOY",
        "image": image(("library", "postgres"), {"tag": f"{s.postgres.version}-alpine"},
                       secrets.docker_hub_credentials),
        "instance_size_slug": catalog.DB_SETUP_JOB_SIZE,
        "instance_count": 1,
        "run_command": env.DB_SETUP_COMMAND,
        "envs": env.db_setup_env(secrets, env.db_setup_sql(s), downgrade_guard_sql(s.n8n.version)),
    }


def _backup_worker(s: Settings, secrets: SecretValues) -> list[dict]:
    if not s.backups:
        return []
    pulled = image(catalog.POSTGRES_IMAGE, {"tag": catalog.backup_image_tag(s.postgres.version)},
                   secrets.docker_hub_credentials)
    return [backup_worker(s, secrets, pulled, component_alerts(s.alerts))]


def _collector(s: Settings, secrets: SecretValues) -> list[dict]:
    pulled = image(catalog.COLLECTOR_IMAGE, {"tag": catalog.COLLECTOR_TAG}, secrets.docker_hub_credentials)
    found = collector_component(s, secrets.metrics_authorization, pulled, component_alerts(s.alerts))
    return [found] if found else []


def _forward_logs(spec: dict, destinations: list[dict]) -> None:
    # One setting, every component: a component without log_destinations keeps its logs in App Platform only.
    for kind in _COMPONENT_KINDS:
        for component in spec.get(kind, []) if destinations else []:
            component["log_destinations"] = destinations


def _ingress(top: Topology) -> dict:
    def rule(prefix: str, component: str) -> dict:
        # App Platform trims the matched prefix before forwarding; n8n needs the full path back. We
        # rewrite the prefix to itself rather than set `preserve_path_prefix`, whose type the OpenAPI
        # definition (string) and the Go client (bool) disagree on.
        target = {"name": component} if prefix == "/" else {"name": component, "rewrite": prefix}
        return {"match": {"path": {"prefix": prefix}}, "component": target}

    rules = [rule(p, top.webhook) for p in WEBHOOK_PATHS] if top.webhook else []
    return {"rules": metrics_ingress_rules() + rules + [rule("/", top.main)]}


def build_app_spec(
    s: Settings,
    *,
    vpc_id: Any,
    postgres_cluster: Any,
    valkey_cluster: Any,
    secrets: SecretValues,
) -> dict:
    """The whole app in the API's shape. Cluster names and the VPC id are passed in so that a Pulumi
    caller can hand over Outputs (which also orders the App after the clusters); the app joins the VPC only
    with `app.vpc`. With `postgres.connectionPool`, n8n connects through the PgBouncer pool; the pre-deploy
    job always connects to the cluster."""
    top = topology_for(s)
    pins = image_pins(s)
    spec: dict = {
        "name": s.app_name,
        "region": s.app_region,
        "alerts": [{"rule": r} for r in APP_ALERT_RULES],
        "databases": [
            {"name": POSTGRES_BINDING, "engine": catalog.POSTGRES.app_spec, "production": True,
             "cluster_name": postgres_cluster, "db_name": DB_NAME, "db_user": DB_USER, "version": s.postgres.version},
            {"name": VALKEY_BINDING, "engine": catalog.VALKEY.app_spec, "production": True,
             "cluster_name": valkey_cluster, "version": s.valkey.version},
        ],
        "ingress": _ingress(top),
        "services": [_main(s, top, secrets, pins["n8n"])]
        + [_worker(s, w, secrets, pins["n8n"]) for w in top.workers]
        + ([_webhook(s, top, secrets, pins["n8n"])] if top.webhook else []),
        "workers": [_runner_pool(s, p, secrets, pins["runners"]) for p in top.runner_pools] + _collector(s, secrets)
        + _backup_worker(s, secrets),
        "jobs": [_db_setup_job(s, secrets)],
    }
    _forward_logs(spec, log_destinations(s, secrets.log_destination_secret))
    if s.domain:
        spec["domains"] = [{"domain": s.domain, "type": "PRIMARY"}]
    if s.app.vpc:
        spec["vpc"] = {"id": vpc_id}
    return spec


# --- API shape -> Pulumi SDK argument shape ------------------------------------------------------

_COMPONENT_KINDS = ("services", "workers", "jobs")


def alert_destinations(a: AlertSettings, slack_key: str = "slack_webhooks") -> dict | None:
    """Who the stack's alerts notify. App alerts and DigitalOcean Monitoring alerts take the same emails
    and Slack webhooks under different keys: `slack_webhooks` in the App spec, `slacks` in a MonitorAlert
    (pulumi-digitalocean 4.84.1 schema)."""
    if not a.emails and not a.slack_webhooks:
        return None
    return {"emails": list(a.emails), slack_key: [{"url": w.url, "channel": w.channel} for w in a.slack_webhooks]}


def to_sdk_spec(api_spec: dict, destinations: dict | None = None) -> dict:
    """Rename what the SDK spells differently (`domains`->`domain_names` with `domain`->`name`,
    `egress`->`egresses`, `vpc`->`vpcs`, `image.deploy_on_push`->`deploy_on_pushes`) and attach alert
    destinations, which the API sets through a separate call but the SDK takes inside each alert."""
    sdk = {k: v for k, v in api_spec.items() if k not in ("domains", "egress", "vpc", "alerts", *_COMPONENT_KINDS)}
    if "domains" in api_spec:
        sdk["domain_names"] = [
            {("name" if k == "domain" else k): v for k, v in d.items() if k != "minimum_tls_version"}
            for d in api_spec["domains"]
        ]
    if "egress" in api_spec:
        sdk["egresses"] = [api_spec["egress"]]
    if "vpc" in api_spec:
        sdk["vpcs"] = [api_spec["vpc"]]

    def with_destinations(alerts: list[dict]) -> list[dict]:
        return [{**a, "destinations": destinations} if destinations else dict(a) for a in alerts]

    if "alerts" in api_spec:
        sdk["alerts"] = with_destinations(api_spec["alerts"])
    for kind in _COMPONENT_KINDS:
        if kind not in api_spec:
            continue
        components = []
        for c in api_spec[kind]:
            c = dict(c)
            if "image" in c and "deploy_on_push" in c["image"]:
                img = dict(c["image"])
                img["deploy_on_pushes"] = [img.pop("deploy_on_push")]
                c["image"] = img
            if "alerts" in c:
                c["alerts"] = with_destinations(c["alerts"])
            components.append(c)
        sdk[kind] = components
    return sdk
