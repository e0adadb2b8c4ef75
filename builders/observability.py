"""What the stack observes, as pure data: one scrape target per n8n process, the Prometheus scrape
configuration, the alert rules with thresholds from the capacity model, and the collector's configuration.

The rehearsal feeds the same scrape configuration and rules
to a real Prometheus (rehearsal/observability.py), so what it proves is what a stack renders.
docs/observability.md explains every signal and alert.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from platform_model import catalog
from platform_model.capacity import CONNECTION_HEADROOM, deployment_connection_budget, execution_capacity
from platform_model.topology import Topology
from settings.model import Settings

from .deployment import deployment_from_settings
from .names import topology_for

SCRAPE_JOB = "n8n"
MAIN_ROLE, WORKER_ROLE, WEBHOOK_ROLE = "main", "worker", "webhook"
# How long a scrape target may be down before the alert: App Platform restarts a failed container within
# its health check's 6 × 10 s (components/app_spec.py), so 2 minutes means the restart did not help.
DOWN_SECONDS = 120
# Share of PostgreSQL's connection limit n8n may hold before the connections alert.
CONNECTIONS_ALERT_SHARE = 0.8


@dataclass(frozen=True)
class ScrapeTarget:
    component: str
    port: int
    role: str

    @property
    def address(self) -> str:
        # App Platform resolves a component's name inside the app: one address for all its instances.
        return f"{self.component}:{self.port}"


def _single_instance(instances: int, auto: Any) -> bool:
    return auto is None and instances == 1


def scrape_targets(s: Settings, top: Topology | None = None) -> list[ScrapeTarget]:
    """main and every worker (each worker pair's worker is one instance, so one clean target each), and the
    webhook processor only when it runs exactly one instance: behind one name, several instances would be
    scraped at random and their counters interleaved. main is scraped even under multi-main: any main
    answers, and each polls the same queue."""
    top = top or topology_for(s)
    targets = [ScrapeTarget(top.main, catalog.N8N_HTTP_PORT, MAIN_ROLE)]
    targets += [ScrapeTarget(w, catalog.N8N_HTTP_PORT, WORKER_ROLE) for w in top.workers]
    if top.webhook and _single_instance(s.webhooks.processors, s.webhooks.autoscaling):
        targets.append(ScrapeTarget(top.webhook, catalog.N8N_HTTP_PORT, WEBHOOK_ROLE))
    return targets


def scrape_configs(targets: list[ScrapeTarget], interval_seconds: int,
                   address: Callable[[ScrapeTarget], str] = lambda t: t.address) -> list[dict]:
    """Prometheus `scrape_configs` (also the OpenTelemetry prometheus receiver's `config.scrape_configs`);
    `address` lets the rehearsal point each target at its local port."""
    return [{
        "job_name": SCRAPE_JOB,
        "scrape_interval": f"{interval_seconds}s",
        "scrape_timeout": f"{min(10, interval_seconds)}s",
        "metrics_path": catalog.METRICS_PATH,
        "static_configs": [{"targets": [address(t)], "labels": {"component": t.component, "role": t.role}}
                           for t in targets],
    }]


# --- alert rules -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertTiming:
    """How long each condition must hold (seconds). The stack's values come from its settings; the
    rehearsal shortens them (docs/observability.md says so) and keeps every threshold."""

    backlog: int
    stuck: int
    down: int = DOWN_SECONDS
    task_timeout: int = catalog.DEFAULT_TASK_TIMEOUT_SECONDS

    def scaled(self, factor: float, floor: int = 10) -> AlertTiming:
        return replace(self, **{k: max(floor, int(v * factor)) for k, v in vars(self).items()})


def alert_timing(s: Settings) -> AlertTiming:
    m = s.observability.metrics
    return AlertTiming(m.backlog_minutes * 60, m.stuck_minutes * 60, DOWN_SECONDS, s.n8n.task_timeout_seconds)


def _rule(name: str, expr: str, hold: int, severity: str, summary: str, action: str) -> dict:
    return {"alert": name, "expr": expr, "for": f"{hold}s", "labels": {"severity": severity},
            "annotations": {"summary": summary, "action": action}}


WAITING, ACTIVE = "n8n_scaling_mode_queue_jobs_waiting", "n8n_scaling_mode_queue_jobs_active"
COMPLETED, FAILED = "n8n_scaling_mode_queue_jobs_completed", "n8n_scaling_mode_queue_jobs_failed"


def alert_rules(s: Settings, timing: AlertTiming | None = None) -> dict:
    """Prometheus rule groups (the format Grafana Cloud, Mimir and Prometheus load)."""
    t = timing or alert_timing(s)
    slots = execution_capacity(deployment_from_settings(s)).concurrent_executions
    rules = [
        _rule("N8nMainDown", f'up{{job="{SCRAPE_JOB}", role="{MAIN_ROLE}"}} == 0', t.down, "critical",
              "n8n main does not answer inside the app: no editor, no webhooks, no schedules — or PostgreSQL is "
              "unreachable (n8n's /metrics then waits on the database past the scrape timeout).",
              "Check PostgreSQL first (all n8n targets down at once), then n8n-main's logs and restarts, and Valkey."),
        _rule("N8nWorkerDown", f'up{{job="{SCRAPE_JOB}", role="{WORKER_ROLE}"}} == 0', t.down, "warning",
              "A worker does not answer: its pair's share of the worker slots is gone.",
              "Check that worker's logs (out of memory? crash loop?) and its runner pool."),
        _rule("N8nQueueBacklog", f"max({WAITING}) > {slots}", t.backlog, "warning",
              f"More jobs wait in the queue than the {slots} worker slots (pairs × concurrency) take at once.",
              "Add worker pairs (workers.pairs) or find the workflow flooding the queue."),
        _rule("N8nWorkersNotConsuming", f"max({WAITING}) > 0 and max({ACTIVE}) == 0", t.backlog, "critical",
              "Jobs wait and no worker runs any: executions are not happening.",
              "Check every worker is up and connected to Valkey (QUEUE_BULL_REDIS_*)."),
        _rule("N8nExecutionsStuck",
              f"max({ACTIVE}) > 0 and on() (sum(increase({COMPLETED}[{t.stuck}s])) "
              f"+ sum(increase({FAILED}[{t.stuck}s]))) == 0", 0, "critical",
              f"Jobs are active but none finished in {t.stuck // 60 or 1} min: executions are stuck "
              "(PostgreSQL unreachable, a hung node, or a worker that died holding them).",
              "Check PostgreSQL, then the workers' logs; executions left `running` are marked crashed "
              "only when main restarts."),
        _rule("N8nRunnerTasksUnanswered", runner_tasks_unanswered(t), t.down, "warning",
              "A worker's Code nodes get no answer from its runner pool: none accepted (pool down, not "
              "registered, wrong token) or none returned a result (runners dying, tasks past the task timeout).",
              "Check that worker's runner pool (n8n-runners-<i>): running? its logs (auth token, crashes, "
              "out-of-memory kills)? Code nodes there fail with 'Task request timed out' or a timeout error."),
        _rule("N8nPostgresConnectionsHigh", f"sum(n8n_db_pool_connections_active + n8n_db_pool_connections_idle)"
              f" > {connection_alert_threshold(s)}", t.backlog, "warning",
              "n8n holds most of the connections PostgreSQL allows; a deploy (which doubles them) may fail.",
              "Pick a larger postgres.size or put a PgBouncer pool in front (postgres.connectionPool)."),
        _rule("N8nDatabasePoolWaiting", "max(n8n_db_pool_requests_pending) > 0", t.backlog, "warning",
              "n8n processes wait for a database connection from their own pool.",
              "Raise n8n.dbPoolSize if the connection budget allows; look for slow queries."),
    ]
    return {"groups": [{"name": "n8n", "rules": rules}]}


CODE_NODES_STARTED = 'n8n_node_started_total{node_type="base_code"}'  # n8n-nodes-base.code, both languages
TASKS_ACCEPTED, TASKS_ANSWERED = "n8n_runner_task_requested_total", "n8n_runner_response_received_total"
# A dead pool is reported once its last accepted task has left this window: between `for:` and window + `for:`.
NO_RUNNER_WINDOW = catalog.TASK_REQUEST_TIMEOUT_SECONDS + 60


def _per_worker_increase(counter: str, window: int) -> str:
    return f"sum by (component) (increase({counter}[{window}s])) > 0"


def runner_tasks_unanswered(t: AlertTiming) -> str:
    """Worker-side event-bus counters (n8n 2.41.1 has no metric for a task request timing out). The broker
    emits `runner-task-requested` only once a runner accepted the task and `runner-response-received` only
    for a result, so: Code nodes started and no task accepted, or tasks accepted and none answered. The
    first window is n8n's fixed task request timeout plus a minute, not shortened by the rehearsal: a worker
    whose slots all wait on that timeout starts no Code node for that long."""
    no_result = t.task_timeout + 60
    return (f"({_per_worker_increase(CODE_NODES_STARTED, NO_RUNNER_WINDOW)} "
            f"unless on (component) {_per_worker_increase(TASKS_ACCEPTED, NO_RUNNER_WINDOW)}) "
            f"or ({_per_worker_increase(TASKS_ACCEPTED, no_result)} "
            f"unless on (component) {_per_worker_increase(TASKS_ANSWERED, no_result)})")


def connection_alert_threshold(s: Settings) -> int:
    """The connections n8n may hold (the cluster's limit, or the PgBouncer pool's server side, less the
    headroom) times CONNECTIONS_ALERT_SHARE."""
    budget = deployment_connection_budget(deployment_from_settings(s))
    return int((budget.limit - CONNECTION_HEADROOM) * CONNECTIONS_ALERT_SHARE)


# --- the collector -----------------------------------------------------------------------------------


def collector_config(s: Settings, authorization: str | None) -> dict:
    """The OpenTelemetry Collector's whole configuration: scrape every target, ship to the remote with the
    Authorization header. The header is written in, not referenced as `${env:...}`: App Platform reads
    `${...}` in env values as its own bindable variables, so the whole configuration becomes a secret."""
    remote = s.observability.metrics.remote
    assert remote is not None, "called only for a stack that ships metrics to a remote"
    headers = {"headers": {"Authorization": authorization}} if authorization is not None else {}
    if remote.protocol == "otlpHttp":
        exporter: tuple[str, dict[str, Any]] = ("otlphttp", {"metrics_endpoint": remote.endpoint, **headers})
    else:
        # The receiver keeps n8n's metric names; without this the exporter would append `_total` to n8n's
        # queue counters, and the rules would not find them (prometheusremotewrite `add_metric_suffixes`).
        exporter = ("prometheusremotewrite", {"endpoint": remote.endpoint, "add_metric_suffixes": False,
                                              **headers})
    targets = scrape_targets(s)
    return {
        "receivers": {"prometheus": {"config": {
            "scrape_configs": scrape_configs(targets, s.observability.metrics.scrape_interval_seconds)}}},
        "processors": {"memory_limiter": {"check_interval": "1s", "limit_percentage": 80,
                                          "spike_limit_percentage": 20},
                       "batch": {}},
        "exporters": {exporter[0]: exporter[1]},
        "service": {"pipelines": {"metrics": {"receivers": ["prometheus"],
                                              "processors": ["memory_limiter", "batch"],
                                              "exporters": [exporter[0]]}}},
    }

