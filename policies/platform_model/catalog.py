"""Facts about n8n and DigitalOcean that every other module reads: ports, images, sizes, regions.

One source of truth: the settings model, the App spec builder, the policy pack and the docs all take
these numbers and names from here. Each fact says where it was checked. This module must stay free of
third-party imports so the policy pack can load it without the program's dependencies.
"""

from __future__ import annotations

from dataclasses import dataclass

# --- n8n -----------------------------------------------------------------------------------------

# Every n8n process (main, worker, webhook processor) serves HTTP on 5678: the UI/API/webhooks on main
# and webhook processors, `/healthz` + `/healthz/readiness` on workers when QUEUE_HEALTH_CHECK_ACTIVE
# is true (QUEUE_HEALTH_CHECK_PORT defaults to 5678). Checked in n8n 2.41.x.
N8N_HTTP_PORT = 5678
# The task broker listens on N8N_RUNNERS_BROKER_PORT (default 5679) in every process that runs Code
# nodes: workers, and main when manual executions are not offloaded.
BROKER_PORT = 5679
# The n8nio/runners launcher serves `GET /healthz` on N8N_RUNNERS_LAUNCHER_HEALTH_CHECK_PORT (5680).
RUNNER_HEALTH_PORT = 5680
# n8n's two health endpoints (n8n 2.41.1 abstract-server.js setupHealthCheck, scaling/worker-server.js):
# `/healthz` is 200 once the HTTP server listens and reads no state, so it proves only that the process
# is alive; `/healthz/readiness` is 200 only while the database is connected and migrated and the
# process is fully started (workers: and Redis is connected). A liveness check on readiness would
# restart every process at once during a database failover.
LIVENESS_PATH = "/healthz"
READINESS_PATH = "/healthz/readiness"

N8N_IMAGE = ("n8nio", "n8n")  # Docker Hub registry (namespace) and repository
RUNNERS_IMAGE = ("n8nio", "runners")  # must run the same tag as the n8n image
# n8n publishes both images on Docker Hub and on GitHub's registry (n8n-io/n8n, docker/images/n8n and
# docker/images/runners; DigitalOcean's own n8n template pulls them from ghcr.io). As `docker pull` names
# them: the policy pack allows these unless its config says otherwise (policies/platform_model/images.py).
OFFICIAL_N8N_IMAGES = (f"docker.io/{N8N_IMAGE[0]}/{N8N_IMAGE[1]}", "ghcr.io/n8n-io/n8n")
OFFICIAL_RUNNERS_IMAGES = (f"docker.io/{RUNNERS_IMAGE[0]}/{RUNNERS_IMAGE[1]}", "ghcr.io/n8n-io/runners")
# Default pinned release. 2.41.1 installs from npm on our build machines; 2.41.3 does not (a pinned
# dependency is missing from the registry), and the rehearsal runs the exact stack version.
DEFAULT_N8N_VERSION = "2.41.1"
# Where the upgrade rehearsal starts: the newest patch of the previous release line (2.40) that the npm
# registry here carries (2.40.6 is missing from it).
PREVIOUS_N8N_RELEASE = "2.40.7"
# n8n 2.x needs Node.js 24; the rehearsal uses it.
NODE_MAJOR = 24

# N8N_CONCURRENCY_PRODUCTION_LIMIT: n8n's default is 10 and it warns below 5.
DEFAULT_WORKER_CONCURRENCY = 10
MIN_RECOMMENDED_CONCURRENCY = 5
# DB_POSTGRESDB_POOL_SIZE defaults to 2 connections per n8n process.
DEFAULT_DB_POOL_SIZE = 2
# DB_POSTGRESDB_STATEMENT_TIMEOUT defaults to 5 minutes; n8n's TypeORM applies it with a session-level
# `SET statement_timeout` each time it takes a connection from its pool (@n8n/typeorm PostgresDriver
# obtainMasterConnection, 2.41.1).
N8N_STATEMENT_TIMEOUT_MS = 300_000
# N8N_GRACEFUL_SHUTDOWN_TIMEOUT defaults to 30 s; App Platform must wait longer before it kills.
DEFAULT_GRACEFUL_SHUTDOWN_SECONDS = 30
# N8N_EXECUTIONS_QUEUE_RECOVERY_INTERVAL (minutes, n8n default 180): how often main marks `new`/`running`
# executions that have no active or waiting Bull job as `crashed` (2.41.1 scaling/scaling.service.js
# recoverFromQueue, leader main only, first run at startup). With the default, an execution whose worker
# could not save its result stays `running` for up to three hours; 3 keeps it under the five minutes the
# fault drills allow (rehearsal/drills.py), and a check is one indexed query plus one Redis call.
DEFAULT_QUEUE_RECOVERY_MINUTES = 3
# Time App Platform's termination grace period gives beyond n8n's own graceful shutdown.
SHUTDOWN_MARGIN_SECONDS = 15
# App Platform's `termination.grace_period_seconds` when a component does not set it (DigitalOcean's
# OpenAPI app spec: "Default 120", 1-600).
APP_PLATFORM_DEFAULT_GRACE_PERIOD_SECONDS = 120
# N8N_RUNNERS_TASK_TIMEOUT: the launcher defaults to 60 s and the broker to 300 s; we set one value on
# both so a long Code node is not cut by whichever side has the shorter default.
DEFAULT_TASK_TIMEOUT_SECONDS = 300
# N8N_RUNNERS_TASK_REQUEST_TIMEOUT (n8n's default; the spec does not set it): how long a worker's broker waits
# for a runner to accept a Code-node task before the node fails with "Task request timed out".
TASK_REQUEST_TIMEOUT_SECONDS = 60
# N8N_RUNNERS_MAX_CONCURRENCY: Code-node tasks one runner process takes at once (n8n default 10).
DEFAULT_RUNNER_MAX_CONCURRENCY = 10
# N8N_EXECUTIONS_QUEUE_KEEP_LAST_COMPLETED/_FAILED: finished Bull jobs kept in Valkey. n8n's default 0
# removes a job the moment it finishes; main then waits on `job.finished()` (Bull 4.16.4), which never
# resolves for a job that finished before main started waiting (OptimalBits/bull #1906, #2504) — the
# webhook caller hangs. Seen about once in 1,000 webhook calls in the rehearsal; reproduced with n8n's
# own Bull: 40 of 40 such jobs hang when removed at once, 0 of 40 when 1,000 are kept (< 1 MB in Valkey).
QUEUE_KEEP_LAST_JOBS = 1000

# n8n accepts any N8N_ENCRYPTION_KEY; ours must be this long (secret_strength.py: the full rule).
MIN_SECRET_LENGTH = 32

# --- App Platform components ---------------------------------------------------------------------

# What a component's `run_command` replaces is not documented (docs/operations.md § First deployment). n8nio/n8n's
# image runs `ENTRYPOINT ["tini", "--", "/docker-entrypoint.sh"]`, and that script ends in `exec n8n "$@"`
# (n8n repository, docker/images/n8n): if run_command replaces the ENTRYPOINT, the spec must say
# `n8n worker`; if it replaces only the CMD, the script would run `n8n n8n worker`, which n8n refuses, and
# the spec must say `worker`. DigitalOcean's own n8n template writes `n8n worker`: the default.
RUN_COMMAND_REPLACES = ("entrypoint", "cmd")
DEFAULT_RUN_COMMAND_REPLACES = "entrypoint"
N8N_EXECUTABLE = "n8n"


def n8n_run_command(command: str, replaces: str) -> str:
    """The run_command that makes an n8n container run `n8n <command>` (worker, webhook)."""
    return command if replaces == "cmd" else f"{N8N_EXECUTABLE} {command}"


# Images App Platform pulls from Docker Hub (`registry_type`). Each deployment pulls them anonymously
# unless the image carries `registry_credentials`, "<username>:<access token>" for DOCKER_HUB
# (DigitalOcean's OpenAPI app spec, `image.registry_credentials`; pulumi-digitalocean 4.84.1
# `registry_credentials`, a secret). App Platform encrypts the value when it receives the spec.
DOCKER_HUB = "DOCKER_HUB"


# App Platform stores a SECRET env var encrypted and answers with the ciphertext (`EV[1:...]`) wherever
# it returns the spec; terraform-provider-digitalocean copies that into the App's state
# (`flattenAppEnvs`, digitalocean/app/app_spec.go, read 2026-08-06; its issues 514 and 1603). So after
# `pulumi up` the App's outputs hold ciphertext where its inputs held the secret.
APP_PLATFORM_CIPHERTEXT = ("EV[", "]")


def is_app_platform_ciphertext(value: str) -> bool:
    start, end = APP_PLATFORM_CIPHERTEXT
    return value.startswith(start) and value.endswith(end)

# --- DigitalOcean regions ------------------------------------------------------------------------

# Managed databases, VPCs and droplets use datacenter slugs (ams3); App Platform uses region slugs (ams).
# We take the datacenter and derive the App region. Datacenters listed here offer managed databases
# and VPCs; App Platform's regions are the `region` enum of DigitalOcean's OpenAPI app spec.
DATACENTER_TO_APP_REGION = {
    "nyc1": "nyc", "nyc3": "nyc",
    "sfo2": "sfo", "sfo3": "sfo",
    "tor1": "tor",
    "atl1": "atl",
    "ams3": "ams",
    "fra1": "fra",
    "lon1": "lon",
    "blr1": "blr",
    "sgp1": "sgp",
    "syd1": "syd",
}
APP_REGIONS = frozenset(DATACENTER_TO_APP_REGION.values())


def app_region(datacenter: str) -> str:
    return DATACENTER_TO_APP_REGION[datacenter]


# The one datacenter whose VPCs an app of each App Platform region can join (DigitalOcean, "How to Enable
# App Platform VPC", last edited 2025-09-24): an app in `nyc` joins VPCs in nyc1 only, `sfo` in sfo3 only,
# and `atl` is not listed.
APP_VPC_DATACENTER = {
    "ams": "ams3", "blr": "blr1", "fra": "fra1", "lon": "lon1", "nyc": "nyc1",
    "sfo": "sfo3", "sgp": "sgp1", "syd": "syd1", "tor": "tor1",
}


# --- App Platform instance sizes -----------------------------------------------------------------


@dataclass(frozen=True)
class AppSize:
    slug: str
    vcpus: float
    memory_gib: float
    dedicated: bool  # apps-d-*: dedicated CPU, the only sizes App Platform autoscales
    fixed: bool = False  # the $5/$10 shared sizes run exactly one instance


APP_SIZES = {
    s.slug: s
    for s in (
        AppSize("apps-s-1vcpu-0.5gb", 1, 0.5, False, fixed=True),
        AppSize("apps-s-1vcpu-1gb-fixed", 1, 1, False, fixed=True),
        AppSize("apps-s-1vcpu-1gb", 1, 1, False),
        AppSize("apps-s-1vcpu-2gb", 1, 2, False),
        AppSize("apps-s-2vcpu-4gb", 2, 4, False),
        AppSize("apps-d-1vcpu-0.5gb", 1, 0.5, True),
        AppSize("apps-d-1vcpu-1gb", 1, 1, True),
        AppSize("apps-d-1vcpu-2gb", 1, 2, True),
        AppSize("apps-d-1vcpu-4gb", 1, 4, True),
        AppSize("apps-d-2vcpu-4gb", 2, 4, True),
        AppSize("apps-d-2vcpu-8gb", 2, 8, True),
        AppSize("apps-d-4vcpu-8gb", 4, 8, True),
        AppSize("apps-d-4vcpu-16gb", 4, 16, True),
        AppSize("apps-d-8vcpu-32gb", 8, 32, True),
    )
}
MAX_INSTANCES_PER_COMPONENT = 250  # App Platform's per-component instance limit
# The pre-deploy job that grants n8n its schema only runs psql; the smallest size is enough.
DB_SETUP_JOB_SIZE = "apps-s-1vcpu-0.5gb"

# --- Off-cluster backups (docs/backups.md) ------------------------------------------------------------

# The backup worker streams pg_dump through age to Spaces; nothing is held in memory or on disk, so the
# smallest size does. It runs the official postgres image (Debian) of the cluster's own major version,
# because pg_dump refuses a server newer than itself.
BACKUP_COMPONENT = "n8n-backup"
BACKUP_WORKER_SIZE = "apps-s-1vcpu-0.5gb"
POSTGRES_IMAGE = ("library", "postgres")


def backup_image_tag(postgres_version: str) -> str:
    # The Debian variant: its apt archive has age and rclone, the same packages the restore drill runs.
    return f"{postgres_version}-bookworm"


# Debian bookworm packages the backup worker installs at start and the drill runs here (age 1.1.1,
# rclone 1.60.1 in bookworm).
BACKUP_DEBIAN_PACKAGES = ("age", "rclone", "ca-certificates")
DEFAULT_BACKUP_SCHEDULE = "6h"  # an interval: the worker sleeps between dumps (no cron in App Platform via Pulumi)
MAX_BACKUP_INTERVAL_HOURS = 168
DEFAULT_BACKUP_RETENTION_DAYS = 30


def spaces_endpoint(region: str) -> str:
    # Spaces' S3 API lives at ${REGION}.digitaloceanspaces.com (DigitalOcean Spaces API reference).
    return f"{region}.digitaloceanspaces.com"


# --- Managed database sizes ----------------------------------------------------------------------


@dataclass(frozen=True)
class DatabaseSize:
    slug: str
    vcpus: int
    memory_gib: int

    @property
    def allows_standby(self) -> bool:
        # Standby nodes (node_count 2 or 3) need a plan with at least 2 GiB of RAM; the 1 GiB plan is
        # single-node only (DigitalOcean managed databases, "High availability").
        return self.memory_gib >= 2

    @property
    def postgres_connection_limit(self) -> int:
        # DigitalOcean allows 25 connections per GiB of RAM and reserves 3 for maintenance.
        return 25 * self.memory_gib - 3


DATABASE_SIZES = {
    s.slug: s
    for s in (
        DatabaseSize("db-s-1vcpu-1gb", 1, 1),
        DatabaseSize("db-s-1vcpu-2gb", 1, 2),
        DatabaseSize("db-s-2vcpu-4gb", 2, 4),
        DatabaseSize("db-s-4vcpu-8gb", 4, 8),
        DatabaseSize("db-s-6vcpu-16gb", 6, 16),
        DatabaseSize("db-s-8vcpu-32gb", 8, 32),
        DatabaseSize("db-s-16vcpu-64gb", 16, 64),
    )
}
MAX_DATABASE_NODES = 3  # a primary plus up to two standby nodes

# PgBouncer pool modes n8n works through (DigitalOcean's connection pools are PgBouncer). Checked in
# n8n 2.41.1: every advisory lock is transaction-scoped (pg_advisory_xact_lock in @n8n/db DbLockService,
# including the migration lock), migrations run inside that one transaction with SET LOCAL, the only
# temporary table is created and dropped inside one transaction, there is no LISTEN/NOTIFY and
# node-postgres sends unnamed prepared statements. The one session-level habit is TypeORM's
# `SET search_path` / `SET statement_timeout` on every pool checkout, which transaction pooling cannot
# pin to n8n's next query; the pre-deploy job makes the database default match instead. "statement"
# mode is out: n8n's migrations and locks need multi-statement transactions.
POOL_MODES = ("transaction", "session")
DEFAULT_POOL_MODE = "transaction"

POSTGRES_VERSIONS = ("14", "15", "16", "17")
DEFAULT_POSTGRES_VERSION = "17"
VALKEY_VERSIONS = ("8",)
DEFAULT_VALKEY_VERSION = "8"
# Bull (n8n's queue library) loses jobs if Redis/Valkey evicts keys: it requires `noeviction`.
VALKEY_EVICTION_POLICY = "noeviction"


@dataclass(frozen=True)
class Engine:
    """One managed database engine, as each interface spells it."""

    setting: str  # the stack file's section and `cost.prices` key
    cluster: str  # DatabaseCluster `engine` (DigitalOcean API)
    app_spec: str  # App spec `databases[].engine`


POSTGRES = Engine("postgres", "pg", "PG")
VALKEY = Engine("valkey", "valkey", "VALKEY")
ENGINES = (POSTGRES, VALKEY)

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

# --- Pulumi ------------------------------------------------------------------------------------------

# Resource type tokens the program registers and the pack matches (pulumi-digitalocean 4.84.1 and
# pulumi-random schemas; `Budget` is this project's own component, components/budget.py).
APP = "digitalocean:index/app:App"
CLUSTER = "digitalocean:index/databaseCluster:DatabaseCluster"
CONNECTION_POOL = "digitalocean:index/databaseConnectionPool:DatabaseConnectionPool"
DATABASE_DB = "digitalocean:index/databaseDb:DatabaseDb"
FIREWALL = "digitalocean:index/databaseFirewall:DatabaseFirewall"
MONITOR_ALERT = "digitalocean:index/monitorAlert:MonitorAlert"
VPC = "digitalocean:index/vpc:Vpc"
SPACES_BUCKET = "digitalocean:index/spacesBucket:SpacesBucket"
SPACES_KEY = "digitalocean:index/spacesKey:SpacesKey"
REPLICA = "digitalocean:index/databaseReplica:DatabaseReplica"
# DigitalOcean database log sinks (pulumi-digitalocean 4.84.1); DigitalOcean's API accepts rsyslog,
# elasticsearch and opensearch sinks for PostgreSQL, datadog for MongoDB only.
RSYSLOG_SINK = "digitalocean:index/databaseLogsinkRsyslog:DatabaseLogsinkRsyslog"
OPENSEARCH_SINK = "digitalocean:index/databaseLogsinkOpensearch:DatabaseLogsinkOpensearch"
RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword"
RANDOM_STRING = "random:index/randomString:RandomString"
BUDGET = "n8n-platform:cost:Budget"

# What a stack file may hold: `config:` and the keys beside it (pulumi/pulumi `workspace.ProjectStack`).
STACK_FILE_KEYS = ("config", "secretsprovider", "encryptedkey", "encryptionsalt", "environment")
# Config namespaces a stack file may use besides the project's own: the providers the program uses
# (digitalocean, random) and the engine's own (`pulumi:tags`, `pulumi:disable-default-providers`...).
PROVIDER_NAMESPACES = ("digitalocean", "random", "pulumi")
# The digitalocean provider's config keys (pulumi-digitalocean 4.84.1 schema, `config.variables`).
DIGITALOCEAN_PROVIDER_CONFIG = ("apiEndpoint", "httpRetryMax", "httpRetryWaitMax", "httpRetryWaitMin",
                                "requestsPerSecond", "spacesAccessId", "spacesEndpoint", "spacesSecretKey", "token")

# --- observability ---------------------------------------------------------------------------------

# n8n 2.41.1 serves Prometheus metrics at GET /metrics when N8N_METRICS=true (@n8n/config
# endpoints.config.js PrometheusMetricsConfig; n8n/dist/metrics/prometheus/prometheus.service.js mounts
# `app.get('/metrics')`): main and webhook processors on their HTTP port, workers on
# QUEUE_HEALTH_CHECK_PORT. Express routes are case-insensitive, so `/METRICS` reaches it too.
METRICS_PATH = "/metrics"
# The queue gauges (`n8n_scaling_mode_queue_jobs_waiting`/`_active`, counters `_completed`/`_failed`)
# exist only on main, polled every N8N_METRICS_QUEUE_METRICS_INTERVAL seconds (default 20;
# n8n/dist/metrics/prometheus/queue-metrics.service.js).
QUEUE_METRICS_INTERVAL_SECONDS = 20
# The metrics collector: OpenTelemetry Collector contrib, which reads its whole configuration from an
# environment variable (`--config=env:<VAR>`, opentelemetry.io/docs/collector/configuration), so App
# Platform (which cannot mount files) runs the published image unchanged. The image's ENTRYPOINT is the
# binary below and its CMD `--config /etc/otelcol-contrib/config.yaml` (images built FROM it override
# only CMD; seen for 0.106.1 and 0.123.0 in public Dockerfiles). Pinned: 0.123.0 is a published tag.
COLLECTOR_IMAGE = ("otel", "opentelemetry-collector-contrib")
COLLECTOR_TAG = "0.123.0"
COLLECTOR_EXECUTABLE = "/otelcol-contrib"
COLLECTOR_CONFIG_ENV = "OTELCOL_CONFIG"
# The log levels n8n accepts (N8N_LOG_LEVEL, @n8n/config logging.config.js).
LOG_LEVELS = ("error", "warn", "info", "debug")
# App Platform `log_destinations` providers (DigitalOcean OpenAPI app_log_destination_definition.yml;
# pulumi-digitalocean 4.84.1 AppSpecServiceLogDestinationArgs), as settings name them. Not Logtail: the
# OpenAPI definition requires `logtail.endpoint`, a field the SDK (and the provider schema) does not have —
# no spec satisfies both, so a first `pulumi up` could not be trusted to work.
LOG_DESTINATION_KINDS = ("datadog", "papertrail", "openSearch")
# DigitalOcean UptimeCheck regions (pulumi-digitalocean 4.84.1 uptime_check.py) and UptimeAlert periods.
UPTIME_REGIONS = ("us_east", "us_west", "eu_west", "se_asia")
UPTIME_PERIODS = ("2m", "3m", "5m", "10m", "15m", "30m", "1h")
