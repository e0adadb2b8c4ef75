"""Environment variables of every component, in the App spec's shape (`key`, `value`, `scope`, `type`).

Every name here was checked against n8n 2.41.1 (`@n8n/config` and `@n8n/task-runner` `@Env(...)`
declarations). Values may be plain strings or Pulumi Outputs: the builders only arrange them.
Database values come from App Platform's bindable variables of the attached clusters, so no database
password ever passes through this program.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from platform_model import catalog
from platform_model.topology import DB_NAME, DB_POOL, DB_USER, POSTGRES_BINDING, VALKEY_BINDING, Topology
from settings.model import Settings


@dataclass(frozen=True)
class SecretValues:
    """The secrets the App needs; each may be a string or a (secret) Pulumi Output."""

    encryption_key: Any
    runner_tokens: Mapping[str, Any]  # broker service name -> its runners' auth token
    db_admin_password: Any  # doadmin, only for the pre-deploy job that grants n8n its schema
    license_key: Any | None = None
    docker_hub_credentials: Any | None = None  # "<username>:<access token>" for every Docker Hub image
    log_destination_secret: Any | None = None  # the log destination's API key, token or password
    metrics_authorization: Any | None = None  # the Authorization header for the metrics remote
    backup_access_key: Any | None = None  # the Spaces key that may write only to the backup bucket
    backup_secret_key: Any | None = None


@dataclass(frozen=True)
class PostgresEndpoint:
    """Where n8n sends its queries: the cluster, or a PgBouncer pool in front of it. Same cluster, user,
    password and CA either way: only host, port and database name differ."""

    host: str
    port: str
    database: str


def var(key: str, value: Any) -> dict:
    return {"key": key, "value": value, "scope": "RUN_TIME", "type": "GENERAL"}


def secret(key: str, value: Any) -> dict:
    return {"key": key, "value": value, "scope": "RUN_TIME", "type": "SECRET"}


def _bind(binding: str, attribute: str) -> str:
    return "${" + f"{binding}.{attribute}" + "}"


APP_URL = "${APP_URL}"  # App Platform's live URL of the app (the primary domain when one is set)


def postgres_endpoint(s: Settings) -> PostgresEndpoint:
    """The cluster's bindable variables, or its connection pool's. App Platform binds a pool of an
    attached cluster as `${<binding>.<pool>.HOSTNAME}` etc., the cluster's own variable names
    (DigitalOcean docs, App Platform "How to Use Environment Variables" > Databases, edited 2025-06-17,
    and "How to Connect PostgreSQL to Connection Pools"), so the spec names the pool without a value
    only known after `pulumi up`, and App Platform resolves it as it resolves the cluster's host.
    PgBouncer takes the pool's name as the database name."""
    pg = POSTGRES_BINDING
    if s.postgres.connection_pool is None:
        return PostgresEndpoint(_bind(pg, "HOSTNAME"), _bind(pg, "PORT"), _bind(pg, "DATABASE"))
    pool = f"{pg}.{DB_POOL}"
    return PostgresEndpoint(_bind(pool, "HOSTNAME"), _bind(pool, "PORT"), DB_POOL)


def n8n_common_env(s: Settings, secrets: SecretValues) -> list[dict]:
    """What every n8n process (main, workers, webhook processors) needs, identical everywhere."""
    pg, vk = POSTGRES_BINDING, VALKEY_BINDING
    endpoint = postgres_endpoint(s)
    env = [
        var("EXECUTIONS_MODE", "queue"),
        secret("N8N_ENCRYPTION_KEY", secrets.encryption_key),
        var("GENERIC_TIMEZONE", s.n8n.timezone),
        var("TZ", s.n8n.timezone),
        var("DB_TYPE", "postgresdb"),
        var("DB_POSTGRESDB_HOST", endpoint.host),
        var("DB_POSTGRESDB_PORT", endpoint.port),
        var("DB_POSTGRESDB_DATABASE", endpoint.database),
        var("DB_POSTGRESDB_USER", _bind(pg, "USERNAME")),
        var("DB_POSTGRESDB_PASSWORD", _bind(pg, "PASSWORD")),
        var("DB_POSTGRESDB_POOL_SIZE", str(s.n8n.db_pool_size)),
        # TLS with the cluster's CA and certificate verification on (the reference template turns it off).
        var("DB_POSTGRESDB_SSL_ENABLED", "true"),
        var("DB_POSTGRESDB_SSL_CA", _bind(pg, "CA_CERT")),
        var("DB_POSTGRESDB_SSL_REJECT_UNAUTHORIZED", "true"),
        var("QUEUE_BULL_REDIS_HOST", _bind(vk, "HOSTNAME")),
        var("QUEUE_BULL_REDIS_PORT", _bind(vk, "PORT")),
        var("QUEUE_BULL_REDIS_USERNAME", _bind(vk, "USERNAME")),
        var("QUEUE_BULL_REDIS_PASSWORD", _bind(vk, "PASSWORD")),
        var("QUEUE_BULL_REDIS_TLS", "true"),
        # n8n 2.41.1 @n8n/config scaling-mode.config: this env var is ioredis' `tls.rejectUnauthorized`.
        var("QUEUE_BULL_REDIS_TLS_VALIDATE_CERTIFICATE", "true"),
        # Workers render $execution.resumeUrl and webhook URLs too, so every process gets the public URL.
        var("N8N_WEBHOOK_URL", APP_URL),
        var("N8N_EDITOR_BASE_URL", APP_URL),
        var("N8N_GRACEFUL_SHUTDOWN_TIMEOUT", str(s.n8n.graceful_shutdown_seconds)),
        # Keep finished jobs, or a fast job's webhook caller can wait forever (catalog.QUEUE_KEEP_LAST_JOBS).
        var("N8N_EXECUTIONS_QUEUE_KEEP_LAST_COMPLETED", str(catalog.QUEUE_KEEP_LAST_JOBS)),
        var("N8N_EXECUTIONS_QUEUE_KEEP_LAST_FAILED", str(catalog.QUEUE_KEEP_LAST_JOBS)),
    ]
    if s.n8n.multi_main:
        env.append(var("N8N_MULTI_MAIN_SETUP_ENABLED", "true"))
    if secrets.license_key is not None:
        env.append(secret("N8N_LICENSE_ACTIVATION_KEY", secrets.license_key))
    return env


def broker_env(s: Settings, token: Any) -> list[dict]:
    """A process that hands Code-node tasks to an external runner pool."""
    return [
        var("N8N_RUNNERS_MODE", "external"),
        secret("N8N_RUNNERS_AUTH_TOKEN", token),
        # Listen on every interface: the runner pool reaches the broker over App Platform's network.
        var("N8N_RUNNERS_BROKER_LISTEN_ADDRESS", "0.0.0.0"),
        var("N8N_RUNNERS_BROKER_PORT", str(catalog.BROKER_PORT)),
        var("N8N_RUNNERS_TASK_TIMEOUT", str(s.n8n.task_timeout_seconds)),
    ]


def main_env(s: Settings, top: Topology, secrets: SecretValues) -> list[dict]:
    env = n8n_common_env(s, secrets) + [
        var("N8N_PROXY_HOPS", "1"),  # behind App Platform's edge proxy
        var("OFFLOAD_MANUAL_EXECUTIONS_TO_WORKERS", str(s.n8n.offload_manual_executions).lower()),
        # Read only by the leader main (2.41.1 scaling.service.js setupQueue); see catalog.
        var("N8N_EXECUTIONS_QUEUE_RECOVERY_INTERVAL", str(s.n8n.queue_recovery_minutes)),
    ]
    if top.main in top.brokers:
        env += broker_env(s, secrets.runner_tokens[top.main])
    return env


def worker_env(s: Settings, name: str, secrets: SecretValues) -> list[dict]:
    return n8n_common_env(s, secrets) + [
        var("QUEUE_HEALTH_CHECK_ACTIVE", "true"),
        var("QUEUE_HEALTH_CHECK_PORT", str(catalog.N8N_HTTP_PORT)),
        var("N8N_CONCURRENCY_PRODUCTION_LIMIT", str(s.workers.concurrency)),
    ] + broker_env(s, secrets.runner_tokens[name])


def webhook_env(s: Settings, secrets: SecretValues) -> list[dict]:
    # Webhook processors start no task broker (n8n's `webhook` command never needs one).
    return n8n_common_env(s, secrets) + [var("N8N_PROXY_HOPS", "1")]


def runner_pool_env(s: Settings, broker_uri: str, token: Any) -> list[dict]:
    return [
        var("N8N_RUNNERS_TASK_BROKER_URI", broker_uri),
        secret("N8N_RUNNERS_AUTH_TOKEN", token),
        var("N8N_RUNNERS_MAX_CONCURRENCY", str(s.runners.max_concurrency)),
        var("N8N_RUNNERS_TASK_TIMEOUT", str(s.n8n.task_timeout_seconds)),
        var("N8N_RUNNERS_LAUNCHER_HEALTH_CHECK_PORT", str(catalog.RUNNER_HEALTH_PORT)),
        var("GENERIC_TIMEZONE", s.n8n.timezone),
    ]


# The SQL the pre-deploy job runs as doadmin. DigitalOcean creates databases owned by doadmin, and since
# PostgreSQL 15 the `public` schema grants CREATE only to the database owner, so n8n's own user could
# not run its migrations. Idempotent: it runs before every deployment.
DB_GRANTS_SQL = (
    f"GRANT CONNECT, TEMPORARY ON DATABASE {DB_NAME} TO {DB_USER}; "
    f"GRANT USAGE, CREATE ON SCHEMA public TO {DB_USER};"
)


def db_setup_sql(s: Settings) -> str:
    """The pre-deploy job's SQL. Through a transaction-mode pool, n8n's per-checkout
    `SET statement_timeout` lands on whichever server connection is free, not necessarily the one its next
    query runs on; making n8n's timeout the database default gives every server connection the same."""
    pool = s.postgres.connection_pool
    if pool is None or pool.mode != "transaction":
        return DB_GRANTS_SQL
    return DB_GRANTS_SQL + f" ALTER DATABASE {DB_NAME} SET statement_timeout = {catalog.N8N_STATEMENT_TIMEOUT_MS};"


def db_setup_env(secrets: SecretValues, sql: str = DB_GRANTS_SQL, guard_sql: str = "") -> list[dict]:
    """libpq settings for the pre-deploy job: doadmin on the n8n database, certificate verified; and n8n's
    own user for the downgrade guard (policies/platform_model/upgrade.py), because n8n's tables belong to that user
    and doadmin, not a superuser, cannot read them."""
    pg = POSTGRES_BINDING
    return [
        var("PGHOST", _bind(pg, "HOSTNAME")),
        var("PGPORT", _bind(pg, "PORT")),
        var("PGDATABASE", DB_NAME),
        var("PGUSER", "doadmin"),
        secret("PGPASSWORD", secrets.db_admin_password),
        var("PGSSLMODE", "verify-full"),
        var("DB_CA_CERT", _bind(pg, "CA_CERT")),
        var("DB_GUARD_USER", _bind(pg, "USERNAME")),
        var("DB_GUARD_PASSWORD", _bind(pg, "PASSWORD")),
        var("DB_GUARD_SQL", guard_sql),
        var("DB_GRANTS_SQL", sql),
    ]


# Written so the job's shell reads the SQL and CA from its environment; nothing secret is on the line.
# The CA goes to a fresh temporary file rather than a fixed path, so the command is safe to run on a
# shared host too (the rehearsal runs this very command).
# The downgrade guard runs first and only reads; a refused downgrade stops the job before any grant.
DB_SETUP_COMMAND = (
    'sh -c \'ca=$(mktemp) && printf "%s" "$DB_CA_CERT" > "$ca" && '
    'PGSSLROOTCERT="$ca" PGUSER="$DB_GUARD_USER" PGPASSWORD="$DB_GUARD_PASSWORD" '
    'psql -v ON_ERROR_STOP=1 -c "$DB_GUARD_SQL" && '
    'PGSSLROOTCERT="$ca" psql -v ON_ERROR_STOP=1 -c "$DB_GRANTS_SQL"; status=$?; rm -f "$ca"; exit $status\''
)
