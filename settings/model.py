"""The typed settings of one stack: every `n8n-platform:*` config key the program reads, with defaults.

Defaults live here and nowhere else (the CLI would merge `Pulumi.yaml` config defaults, but the tests
and the offline tools, which run without the CLI, would not see them). Loading is two-phase: pydantic
checks each value's type and range, strictly (`true` is not 1, `3.5` is not 3, "3" is not 3), then
stack/cross_checks.py checks the settings against each other. Both phases collect every problem; `SettingsError`
lists them all with the key, the bad value (never a secret's) and the fix.
"""

from __future__ import annotations

import difflib
import json
import re
import typing
import zoneinfo
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
)
from pydantic.alias_generators import to_camel

from platform_model import catalog

NAMESPACE = "n8n-platform"

# The settings that hold secrets: the one list every check reads (plain-text refusal, redaction, stand-ins).
SECRET_KEYS = ("encryptionKey", "runnerAuthTokens", "licenseKey", "dockerHubCredentials", "logDestinationSecret",
               "metricsAuthorization")
# Not secrets to Pulumi, but credentials: whoever has a Slack incoming-webhook URL can post to the channel.
# Never shown; accepted in plain text with a note (README § Settings says why).
CREDENTIAL_PATHS = (("alerts", "slackWebhooks", "*", "url"),)
# Provider settings that are credentials (pulumi-digitalocean 4.84.1's provider config: `token` is the API
# token, `spacesSecretKey` the Spaces secret).
PROVIDER_SECRET_KEYS = ("digitalocean:token", "digitalocean:spacesSecretKey")


def _spelling(part: str) -> str:
    return part.replace("_", "").replace("-", "").lower()


_SECRET_SPELLINGS = {_spelling(k): k for k in SECRET_KEYS}


def _holds(path: Sequence[str], pattern: Sequence[str]) -> bool:
    """Whether `path` is `pattern` (`*` matches any part), lies inside it or contains it."""
    return all(p == "*" or _spelling(p) == _spelling(q) for p, q in zip(pattern, path, strict=False))


def is_secret_path(path: Sequence[str]) -> bool:
    """Whether the value at `path` (setting keys below the namespace, in any spelling: encryptionKey,
    encryption_key, n8n.encryptionKey...) is or holds a secret or credential, so must never be shown."""
    if any(_spelling(part) in _SECRET_SPELLINGS for part in path):
        return True
    return any(_holds(path, pattern) for pattern in CREDENTIAL_PATHS)


class Written(str):
    """A value exactly as the user typed it in the stack file (`0x10`, `"3"`, `10:00`), shown unquoted."""


# --- errors --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    key: str  # dotted config path as users write it, e.g. "workers.pairs"
    message: str  # what is wrong and what is allowed
    value: Any = None
    secret: bool = False  # never echo the value of a secret

    def __str__(self) -> str:
        return f"{self.key}: {self.message}{self._got()}"

    def _got(self) -> str:
        if self.value is None:
            return ""
        if self.secret:
            if isinstance(self.value, str):
                return f" (got a {len(self.value)}-character value)"
            return " (value not shown: it holds a secret)"
        if isinstance(self.value, Written):
            return f" (got {self.value})"
        return f" (got {json.dumps(self.value, default=str)})"


class SettingsError(Exception):
    """Invalid stack settings (or a stack file that cannot be read); raised before any resource is created."""

    def __init__(self, problems: list[Problem], source: str, in_file: bool = True):
        self.problems = problems
        self.source = source
        lines = [f"{source}: {len(problems)} problem(s) with the stack's settings:"]
        lines += [f"  - {p}" for p in problems]
        if in_file:
            lines.append(f"Fix them in {source} (or `pulumi config set --path <key> <value>`); "
                         "README.md § Settings lists every key with its default.")
        super().__init__("\n".join(lines))


# --- field types ---------------------------------------------------------------------------------


def _between(lo: int, hi: int):
    def check(v: int) -> int:
        if not lo <= v <= hi:
            raise ValueError(f"must be between {lo} and {hi}")
        return v

    return AfterValidator(check)


def _one_of(allowed, what: str):
    allowed = tuple(allowed)

    def check(v: str) -> str:
        if v not in allowed:
            close = difflib.get_close_matches(str(v), allowed, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ValueError(f"must be one of the {what}: {', '.join(allowed)}{hint}")
        return v

    return AfterValidator(check)


def _engine_bool(v: Any) -> Any:
    # The engine hands a program every top-level setting as text: `protect: true` arrives as "true".
    return {"true": True, "false": False}.get(v, v) if isinstance(v, str) else v


def _no_whole_objects(v: Any) -> Any:
    # YAML turns `17` into an int; versions are strings everywhere else (App spec, SDK).
    return str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v


def _check_region(v: str) -> str:
    if v in catalog.DATACENTER_TO_APP_REGION:
        return v
    if v in catalog.APP_REGIONS:
        example = next(dc for dc, r in catalog.DATACENTER_TO_APP_REGION.items() if r == v)
        raise ValueError(
            f"is an App Platform region; give the datacenter instead (e.g. {example}) and the App "
            "region is derived from it"
        )
    raise ValueError(
        "must be a DigitalOcean datacenter with managed databases and VPCs: "
        + ", ".join(catalog.DATACENTER_TO_APP_REGION)
    )


def _check_version(v: str) -> str:
    if not re.fullmatch(r"\d+\.\d+\.\d+", v):
        raise ValueError(
            "must be a pinned n8n release like 2.41.1 (never `latest`, `next` or a floating tag): "
            "it is the image tag of both n8nio/n8n and n8nio/runners"
        )
    if int(v.split(".")[0]) < 2:
        raise ValueError("must be n8n 2.x or newer: this program configures n8n 2.x task runners")
    return v


def _check_timezone(v: str) -> str:
    try:
        zoneinfo.ZoneInfo(v)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError("must be an IANA time zone such as UTC or Europe/Amsterdam") from None
    return v


def _check_hostname(v: str) -> str:
    label = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
    if not re.fullmatch(rf"({label}\.)+[a-z]{{2,63}}", v):
        raise ValueError("must be a lower-case DNS name such as n8n.example.com, without scheme or path")
    return v


def _check_email(v: str) -> str:
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", v):
        raise ValueError("must be an e-mail address")
    return v


def _check_slack(v: str) -> str:
    if not v.startswith("https://hooks.slack.com/"):
        raise ValueError("must be a Slack incoming-webhook URL (https://hooks.slack.com/...)")
    return v


def _check_hour(v: str) -> str:
    if not re.fullmatch(r"([01]\d|2[0-3]):00", v):
        raise ValueError("must be a whole hour in UTC, HH:00 (e.g. 03:00)")
    return v


def _check_name(v: str) -> str:
    if not re.fullmatch(r"[a-z][a-z0-9-]{1,18}[a-z0-9]", v):
        raise ValueError(
            "must be 3-20 characters of lower-case letters, digits and hyphens, starting with a "
            "letter (it prefixes the App and database cluster names)"
        )
    return v


def _check_restore_time(v: str) -> str:
    if v == "latest":
        return v
    try:
        moment = datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None or "T" not in v:
        raise ValueError("must be `latest` or an RFC 3339 time with its offset, e.g. 2026-11-27T03:00:00Z")
    return v


def _check_interval(v: str) -> str:
    m = re.fullmatch(r"(\d+)h", v)
    if not m or not 1 <= int(m.group(1)) <= catalog.MAX_BACKUP_INTERVAL_HOURS:
        raise ValueError(f"must be an interval in whole hours, 1h to {catalog.MAX_BACKUP_INTERVAL_HOURS}h "
                         "(e.g. 6h): the backup worker dumps, then sleeps that long")
    return v


def _check_age_recipient(v: str) -> str:
    # age's X25519 recipients are Bech32: `age1` and 58 characters of its alphabet (age-keygen prints one).
    if not re.fullmatch(r"age1[02-9ac-hj-np-z]{58}", v):
        raise ValueError("must be an age public key (age1..., 62 characters): run `age-keygen -o backup.key`, "
                         "keep backup.key offline and put the printed public key here")
    return v


def _lower_dns_label(what: str):
    def check(v: str) -> str:
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]", v):
            raise ValueError(f"must be 3-63 lower-case letters, digits and hyphens ({what})")
        return v

    return AfterValidator(check)


AppSizeSlug = Annotated[str, _one_of(catalog.APP_SIZES, "App Platform instance sizes")]
DatabaseSizeSlug = Annotated[str, _one_of(catalog.DATABASE_SIZES, "managed database sizes")]
Seconds = Annotated[int, _between(1, 3600)]
Percent = Annotated[int, _between(1, 100)]
MonthlyUsd = Annotated[float, _between(0, 1_000_000)]


class _Section(BaseModel):
    # Strict: YAML and JSON types are taken as written (no bool->int, float->int or "3"->3 coercion).
    # Keys are matched by their camelCase config names only (see parse_settings).
    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True, strict=True,
        hide_input_in_errors=True, allow_inf_nan=False,
    )


# --- observability and production hardening (README § Observability, docs/observability.md) -------


def check_https_url(v: str) -> str:
    if not re.fullmatch(r"https://[^\s/]+(/\S*)?", v):
        raise ValueError("must be an https:// URL (metrics and logs leave the app over the internet)")
    return v


def check_syslog_endpoint(v: str) -> str:
    if not re.fullmatch(r"(syslog\+tls://)?[a-z0-9.-]+:\d{1,5}", v):
        raise ValueError("must be a Papertrail syslog endpoint such as logs3.papertrailapp.com:12345")
    return v


class LogDestination(_Section):
    """Where App Platform forwards every component's logs; the credential is the secret logDestinationSecret."""

    kind: Annotated[str, _one_of(catalog.LOG_DESTINATION_KINDS, "App Platform log destinations")] = Field(
        description="The log service: datadog (API key), papertrail (syslog endpoint, no secret) or "
                    "openSearch (endpoint + user, password).")
    endpoint: str | None = Field(None, description="Datadog intake URL (optional), OpenSearch https:// URL, or "
                                    "Papertrail host:port.")
    user: str | None = Field(None, description="OpenSearch basic-auth user; the password is logDestinationSecret.")
    index_name: str = Field("logs", description="OpenSearch index (App Platform's default, logs).")


class LogSettings(_Section):
    level: Annotated[str, _one_of(catalog.LOG_LEVELS, "n8n log levels")] = Field(
        "info", description="N8N_LOG_LEVEL of every n8n process; info is n8n's default and logs each execution's "
                            "problems without workflow data.")
    format: Annotated[str, _one_of(("json", "text"), "n8n log formats")] = Field(
        "json", description="N8N_LOG_FORMAT: json gives one object per line with timestamp and metadata, which log "
                            "services parse without rules; text is n8n's default.")
    destination: LogDestination | None = Field(
        None, description="Forward every component's logs there (App Platform log_destinations); none keeps "
                          "them in App Platform's own 7-day log view.")
    database: bool = Field(
        False, description="Also forward managed PostgreSQL's own logs (slow queries, connection errors) to the "
                           "destination with a DigitalOcean database log sink: papertrail as syslog over TLS, "
                           "openSearch as an OpenSearch sink. DigitalOcean has no Datadog sink for PostgreSQL.")


class MetricsRemote(_Section):
    protocol: Annotated[str, _one_of(("prometheusRemoteWrite", "otlpHttp"), "metrics protocols")] = Field(
        "prometheusRemoteWrite",
        description="How the collector ships metrics: Prometheus remote-write (Grafana Cloud, Mimir, "
                    "VictoriaMetrics) or OTLP over HTTP (Datadog, Honeycomb...).")
    endpoint: Annotated[str, AfterValidator(check_https_url)] = Field(
        description="The remote's write URL, e.g. https://prometheus-prod-01-eu-west-0.grafana.net/api/prom/push.")


class MetricsSettings(_Section):
    enabled: bool = Field(True, description="N8N_METRICS on main and workers (internal only: the ingress never "
                                            "routes /metrics); off removes the collector too.")
    remote: MetricsRemote | None = Field(
        None, description="Where the in-app collector sends what it scrapes; without it no collector runs (its "
                          "Authorization header is the secret metricsAuthorization).")
    scrape_interval_seconds: Annotated[int, _between(10, 300)] = Field(
        30, description="How often the collector scrapes each n8n process, in seconds; 30 resolves the 20-second "
                        "queue poll without loading main.")
    collector_size: AppSizeSlug = Field("apps-s-1vcpu-0.5gb", description="App Platform size of the collector; "
                                        "scraping a few processes fits the smallest size.")
    backlog_minutes: Annotated[int, _between(1, 120)] = Field(
        5, description="Minutes the queue must hold more jobs than the worker slots before the backlog alert fires.")
    stuck_minutes: Annotated[int, _between(1, 1440)] = Field(
        10, description="Minutes with jobs active but none finishing before the stuck-executions alert fires; "
                        "raise it above your longest workflow.")


class UptimeSettings(_Section):
    enabled: bool = Field(True, description="A DigitalOcean uptime check on main's /healthz from outside, with "
                                            "down, latency and TLS-expiry alerts to the stack's alert destinations.")
    regions: list[Annotated[str, _one_of(catalog.UPTIME_REGIONS, "uptime check regions")]] = Field(
        ["eu_west", "us_east"], description="Where DigitalOcean probes from; two regions tell an outage from a "
                                            "network blip.")
    latency_ms: Annotated[int, _between(100, 60000)] = Field(
        2000, description="Latency alert threshold in milliseconds for /healthz, which answers in a few ms.")
    tls_expiry_days: Annotated[int, _between(1, 60)] = Field(
        14, description="Alert this many days before the TLS certificate expires (App Platform renews ~30 days ahead).")
    period: Annotated[str, _one_of(catalog.UPTIME_PERIODS, "uptime alert periods")] = Field(
        "2m", description="How long a condition must hold before DigitalOcean alerts; 2m is the shortest.")


class ObservabilitySettings(_Section):
    logs: LogSettings = Field(LogSettings(), description="n8n's log format and level, and where logs go.")
    metrics: MetricsSettings = Field(MetricsSettings(), description="n8n's Prometheus metrics and the collector.")
    uptime: UptimeSettings = Field(UptimeSettings(), description="Reachability from outside the app.")


class ExecutionDataSettings(_Section):
    prune: bool = Field(True, description="EXECUTIONS_DATA_PRUNE: delete old execution data, so it cannot fill "
                                          "PostgreSQL (the policy pack requires it).")
    max_age_hours: Annotated[int, _between(1, 8760)] = Field(
        336, description="EXECUTIONS_DATA_MAX_AGE in hours; 336 (14 days) is n8n's default.")
    max_count: Annotated[int, _between(0, 10_000_000)] = Field(
        10000,
        description="EXECUTIONS_DATA_PRUNE_MAX_COUNT, executions kept at most (0 = no count limit); n8n's default.")
    save_successful: bool = Field(True, description="EXECUTIONS_DATA_SAVE_ON_SUCCESS=all; false keeps only failed "
                                                    "executions' data (much less disk, less to debug with).")
    save_manual: bool = Field(True, description="EXECUTIONS_DATA_SAVE_MANUAL_EXECUTIONS: keep editor test runs.")


class HardeningSettings(_Section):
    """n8n 2.41.1 settings a production instance should state explicitly, whatever n8n's defaults become."""

    diagnostics: bool = Field(False, description="N8N_DIAGNOSTICS_ENABLED: off, so n8n sends no telemetry to "
                                                 "telemetry.n8n.io / ph.n8n.io.")
    version_notifications: bool = Field(False, description="N8N_VERSION_NOTIFICATIONS_ENABLED: off, so the editor "
                                        "does not call api.n8n.io; upgrades go through this stack's n8n.version.")
    block_env_access: bool = Field(True, description="N8N_BLOCK_ENV_ACCESS_IN_NODE: Code nodes and expressions "
                                   "cannot read the process environment (which holds the database password).")
    restrict_file_access_to: str = Field("/home/node/.n8n-files", description="N8N_RESTRICT_FILE_ACCESS_TO: the "
                                         "only directory file nodes may read or write (n8n 2.x's ~/.n8n-files).")


class StorageAutoscale(_Section):
    enabled: bool = Field(True, description="DigitalOcean grows the PostgreSQL disk before it fills, so execution "
                                            "data cannot stop n8n unnoticed.")
    threshold_percent: Annotated[int, _between(50, 95)] = Field(
        80, description="Disk use (percent) at which DigitalOcean adds storage; the disk alert fires at 90.")
    increment_gib: Annotated[int, _between(10, 500)] = Field(10, description="GiB added each time.")


class Autoscaling(_Section):
    """CPU autoscaling; App Platform offers it only on dedicated (apps-d-*) sizes."""

    min_instances: Annotated[int, _between(1, catalog.MAX_INSTANCES_PER_COMPONENT)] = 1
    max_instances: Annotated[int, _between(1, catalog.MAX_INSTANCES_PER_COMPONENT)] = 2
    cpu_percent: Percent = 80


def _check_digest(v: str) -> str:
    if not re.fullmatch(r"sha256:[0-9a-f]{64}", v):
        raise ValueError("must be an image digest, sha256: and 64 lowercase hex digits, as "
                         "`docker buildx imagetools inspect n8nio/n8n:<version>` prints it")
    return v


class ImageDigests(_Section):
    """Both images pinned by content for one release; they move with n8n.version or not at all."""

    version: Annotated[str, AfterValidator(_check_version)] = Field(
        description="The n8n release these digests were read for; must equal n8n.version, so a version change "
                    "cannot keep deploying the old images.")
    n8n: Annotated[str, AfterValidator(_check_digest)] = Field(
        alias="n8n", description="Digest of n8nio/n8n:<version> (sha256:...), deployed instead of the tag.")
    runners: Annotated[str, AfterValidator(_check_digest)] = Field(
        description="Digest of n8nio/runners:<version> (sha256:...), deployed instead of the tag.")


class UpgradeSettings(_Section):
    """How version changes are allowed (docs/upgrades.md)."""

    acknowledge_major: Annotated[int, _between(3, 99)] | None = Field(
        default=None,
        description="The n8n major you have read the migration report for (Settings > Migration Report in the "
                    "running editor); the deploy workflow refuses a change to a new major without it. "
                    "Default: unset, so no major upgrade happens unread.")


class N8nSettings(_Section):
    version: Annotated[str, BeforeValidator(_no_whole_objects), AfterValidator(_check_version)] = (
        catalog.DEFAULT_N8N_VERSION
    )
    timezone: Annotated[str, AfterValidator(_check_timezone)] = "UTC"
    # n8n warns when manual executions are not offloaded; off means main needs its own runner pool.
    offload_manual_executions: bool = True
    # Licensed multi-main mode; the only way main may run more than one instance.
    multi_main: bool = False
    graceful_shutdown_seconds: Annotated[int, _between(1, 600 - catalog.SHUTDOWN_MARGIN_SECONDS)] = (
        catalog.DEFAULT_GRACEFUL_SHUTDOWN_SECONDS
    )
    task_timeout_seconds: Seconds = catalog.DEFAULT_TASK_TIMEOUT_SECONDS
    queue_recovery_minutes: Annotated[int, _between(1, 180)] = Field(
        catalog.DEFAULT_QUEUE_RECOVERY_MINUTES,
        description=("Minutes between main's checks that mark executions left `running` without a queue job "
                     "(e.g. a worker that could not save during a database outage) as crashed; n8n's default "
                     "180 leaves them stuck for hours, 3 keeps every drill under five minutes."))
    db_pool_size: Annotated[int, _between(1, 50)] = catalog.DEFAULT_DB_POOL_SIZE
    digests: ImageDigests | None = Field(
        default=None, description="Pin n8nio/n8n and n8nio/runners by digest instead of by the version's tag. "
                                  "Default: unset, the tag n8n.version names.")


class MainSettings(_Section):
    size: AppSizeSlug = "apps-d-1vcpu-2gb"
    instances: Annotated[int, _between(1, catalog.MAX_INSTANCES_PER_COMPONENT)] = 1
    autoscaling: Autoscaling | None = None


class WorkerSettings(_Section):
    pairs: Annotated[int, _between(1, 20)] = 2
    size: AppSizeSlug = "apps-d-1vcpu-2gb"
    concurrency: Annotated[int, _between(1, 200)] = catalog.DEFAULT_WORKER_CONCURRENCY


class RunnerSettings(_Section):
    size: AppSizeSlug = "apps-d-1vcpu-1gb"
    instances: Annotated[int, _between(1, catalog.MAX_INSTANCES_PER_COMPONENT)] = 1
    max_concurrency: Annotated[int, _between(1, 100)] = catalog.DEFAULT_RUNNER_MAX_CONCURRENCY
    autoscaling: Autoscaling | None = None


class WebhookSettings(_Section):
    processors: Annotated[int, _between(0, catalog.MAX_INSTANCES_PER_COMPONENT)] = 0
    size: AppSizeSlug = "apps-d-1vcpu-1gb"
    autoscaling: Autoscaling | None = None


class MaintenanceWindow(_Section):
    day: Annotated[str, _one_of(catalog.WEEKDAYS, "weekdays")] = "sunday"
    hour: Annotated[str, AfterValidator(_check_hour)] = "03:00"


class ConnectionPool(_Section):
    """A DigitalOcean (PgBouncer) connection pool between n8n and PostgreSQL."""

    mode: Annotated[str, _one_of(catalog.POOL_MODES, "PgBouncer modes n8n works with")] = catalog.DEFAULT_POOL_MODE
    # Server connections the pool may open; default: all the cluster allows beyond the headroom.
    size: Annotated[int, _between(1, 5000)] | None = None


class RestoreFrom(_Section):
    """Create the stack's PostgreSQL cluster as a fork of another cluster's backups (point-in-time)."""

    cluster: Annotated[str, _lower_dns_label("a DigitalOcean database cluster name")] = Field(
        ..., description="Name of the existing DigitalOcean PostgreSQL cluster whose backups are restored.")
    time: Annotated[str, AfterValidator(_check_restore_time)] = Field(
        "latest", description="The moment to restore to, RFC 3339 with offset, or `latest` for the newest "
                              "backup DigitalOcean holds (its retained backups bound how far back).")


class Replica(_Section):
    """A read-only copy of the PostgreSQL cluster in another region, to promote after a regional outage."""

    region: Annotated[str, AfterValidator(_check_region)] = Field(
        ..., description="Datacenter of the replica; must differ from the stack's region to survive its loss.")
    size: DatabaseSizeSlug | None = Field(
        None, description="Managed database size of the replica; default the primary's size, so a promoted "
                          "replica carries the same load.")


class PostgresSettings(_Section):
    version: Annotated[str, BeforeValidator(_no_whole_objects),
                       _one_of(catalog.POSTGRES_VERSIONS, "PostgreSQL versions")] = catalog.DEFAULT_POSTGRES_VERSION
    size: DatabaseSizeSlug = "db-s-2vcpu-4gb"
    nodes: Annotated[int, _between(1, catalog.MAX_DATABASE_NODES)] = 2
    maintenance: MaintenanceWindow = MaintenanceWindow()
    connection_pool: ConnectionPool | None = None
    storage_autoscale: StorageAutoscale = Field(StorageAutoscale(), description="Disk autoscaling of the cluster.")
    restore_from: RestoreFrom | None = Field(
        None, description="Create the cluster as a point-in-time fork of another cluster (a restore); needs "
                          "that stack's encryptionKey.")
    replica: Replica | None = Field(
        None, description="A read-only replica in another region for disaster recovery; billed like one node.")


class ValkeySettings(_Section):
    version: Annotated[str, BeforeValidator(_no_whole_objects), _one_of(catalog.VALKEY_VERSIONS, "Valkey versions")] = (
        catalog.DEFAULT_VALKEY_VERSION
    )
    size: DatabaseSizeSlug = "db-s-1vcpu-2gb"
    nodes: Annotated[int, _between(1, catalog.MAX_DATABASE_NODES)] = 2
    maintenance: MaintenanceWindow = MaintenanceWindow(day="sunday", hour="04:00")


class AppSettings(_Section):
    """How the App Platform app meets two behaviours a first deployment settles (README § First deployment)."""

    # App Platform's VPC attachment is a preview that DigitalOcean support enables per team; a team without
    # it cannot create an app that asks for one. Off, n8n reaches the (VPC-attached) databases at their
    # public hostnames, TLS-verified, admitted only by the trusted-source rule for this app.
    vpc: bool = False
    run_command_replaces: Annotated[str, _one_of(catalog.RUN_COMMAND_REPLACES, "image parts App Platform's "
                                                 "run_command can replace")] = catalog.DEFAULT_RUN_COMMAND_REPLACES


class BackupSettings(_Section):
    """Encrypted logical dumps of n8n's database to a Spaces bucket the stack creates (docs/backups.md)."""

    recipient: Annotated[str, AfterValidator(_check_age_recipient)] = Field(
        ..., description="age public key every dump is encrypted to; its private key stays offline, so "
                         "neither the bucket's keys nor the app can read a backup.")
    schedule: Annotated[str, AfterValidator(_check_interval)] = Field(
        catalog.DEFAULT_BACKUP_SCHEDULE, description="How often the backup worker dumps, in hours (e.g. 6h); "
                                                     "6h bounds the loss to 6 hours beyond DigitalOcean's own backups.")
    retention_days: Annotated[int, _between(1, 3650)] = Field(
        catalog.DEFAULT_BACKUP_RETENTION_DAYS, description="Days a dump (and an overwritten or deleted version) "
                                                           "is kept before the bucket's lifecycle rule expires it.")
    region: Annotated[str, AfterValidator(_check_region)] | None = Field(
        None, description="Datacenter of the Spaces bucket; default the stack's region (set another to keep "
                          "backups out of the region they protect).")
    bucket: Annotated[str, _lower_dns_label("a Spaces bucket name")] | None = Field(
        None, description="Spaces bucket name, unique across Spaces; default <app name>-backups.")


class PriceOverrides(_Section):
    """Monthly USD prices that replace policies/platform_model/prices.toml for this stack: App Platform per instance,
    databases per node."""

    app: dict[AppSizeSlug, MonthlyUsd] = {}
    postgres: dict[DatabaseSizeSlug, MonthlyUsd] = {}
    valkey: dict[DatabaseSizeSlug, MonthlyUsd] = {}


class CostSettings(_Section):
    monthly_budget: Annotated[float, _between(1, 1000000)] | None = None
    prices: PriceOverrides = PriceOverrides()


class SlackWebhook(_Section):
    url: Annotated[str, AfterValidator(_check_slack)]
    channel: str


class AlertSettings(_Section):
    emails: list[Annotated[str, AfterValidator(_check_email)]] = []
    slack_webhooks: list[SlackWebhook] = []
    cpu_percent: Percent = 80
    memory_percent: Percent = 85
    restart_count: Annotated[int, _between(1, 100)] = 3


class Settings(_Section):
    """Every setting of one stack. Field names map to config keys in camelCase."""

    region: Annotated[str, AfterValidator(_check_region)] = "ams3"
    name: Annotated[str, AfterValidator(_check_name)] | None = None  # default: n8n-<stack>
    domain: Annotated[str, AfterValidator(_check_hostname)] | None = None
    # `protect` on database clusters and the encryption key; turning it off is asked for by name.
    protect: Annotated[bool, BeforeValidator(_engine_bool)] = True
    n8n: N8nSettings = Field(default=N8nSettings(), alias="n8n")  # to_camel would say n8N
    app: AppSettings = AppSettings()
    main: MainSettings = MainSettings()
    workers: WorkerSettings = WorkerSettings()
    runners: RunnerSettings = RunnerSettings()
    webhooks: WebhookSettings = WebhookSettings()
    postgres: PostgresSettings = PostgresSettings()
    valkey: ValkeySettings = ValkeySettings()
    alerts: AlertSettings = AlertSettings()
    cost: CostSettings = CostSettings()
    observability: ObservabilitySettings = Field(ObservabilitySettings(), description="Logs, metrics, uptime.")
    executions: ExecutionDataSettings = Field(ExecutionDataSettings(), description="Execution data retention.")
    hardening: HardeningSettings = Field(HardeningSettings(), description="n8n's privacy and sandbox settings.")
    upgrade: UpgradeSettings = Field(UpgradeSettings(), description="Guards for changing n8n's version.")
    backups: BackupSettings | None = Field(
        None, description="Off-cluster encrypted backups; the policy pack requires them in production.")
    # Secrets: set with `pulumi config set --secret`; generated when absent (see components/secrets.py).
    encryption_key: SecretStr | None = None
    runner_auth_tokens: dict[str, SecretStr] = Field(default_factory=dict)
    license_key: SecretStr | None = None
    # "<username>:<access token>" for every image App Platform pulls from Docker Hub; anonymous without it.
    docker_hub_credentials: SecretStr | None = None
    log_destination_secret: SecretStr | None = Field(
        None, description="The log destination's API key (datadog) or password (openSearch).")
    metrics_authorization: SecretStr | None = Field(
        None, description="The Authorization header value the collector sends to metrics remote, e.g. "
                          "`Basic <base64 user:token>` for Grafana Cloud or `Bearer <token>`.")

    # The stack name, set by `parse_settings`; not a config key.
    _stack: str = PrivateAttr(default="dev")

    @property
    def stack(self) -> str:
        return self._stack

    @property
    def app_region(self) -> str:
        return catalog.app_region(self.region)

    @property
    def app_name(self) -> str:
        return self.name or f"n8n-{self.stack}"



# --- loading -------------------------------------------------------------------------------------


def _decode(value: Any) -> Any:
    """Pulumi hands object config to programs as JSON text; stack files hold it as YAML objects."""
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except (json.JSONDecodeError, RecursionError):
            return value
    return value


# pydantic's error types, in words for people (value_error and extra_forbidden are handled apart).
_MESSAGES = {
    "int_parsing": "must be a whole number", "int_type": "must be a whole number",
    "int_from_float": "must be a whole number", "bool_parsing": "must be true or false",
    "bool_type": "must be true or false", "string_type": "must be a string",
    "float_type": "must be a number", "float_parsing": "must be a number",
    "finite_number": "must be a finite number",
    "model_type": "must be an object of settings (key: value)",
    "model_attributes_type": "must be an object of settings (key: value)",
    "dict_type": "must be an object of settings (key: value)", "list_type": "must be a list",
    "missing": "is required",
}


def _pydantic_problems(err: ValidationError, raw: Mapping[str, Any]) -> list[Problem]:
    problems = []
    for e in err.errors(include_url=False):
        loc = [str(p) for p in e["loc"]]
        # A bad mapping key (e.g. a size slug in cost.prices.app) arrives as [..., slug, "[key]"].
        bad_key = loc[-1:] == ["[key]"]
        loc = loc[:-1] if bad_key else loc
        value = loc[-1] if bad_key else _lookup(raw, loc)
        if e["type"] == "extra_forbidden":
            msg, value = _not_a_setting(loc), None
        elif e["type"] == "value_error":
            msg = e["msg"].removeprefix("Value error, ")
        else:
            msg = _MESSAGES.get(e["type"], e["msg"])
        problems.append(Problem(".".join(loc), msg, value, secret=is_secret_path(loc)))
    return problems


def _not_a_setting(loc: list[str]) -> str:
    known = sorted(f.alias or n for n, f in _model_at(loc[:-1]).model_fields.items())
    spelled = [k for k in known if _spelling(k) == _spelling(loc[-1])]  # encryption_key -> encryptionKey
    close = spelled or difflib.get_close_matches(loc[-1], known, n=1)
    hint = f"did you mean {close[0]}? " if close else ""
    return f"is not a setting; {hint}known keys here: {', '.join(known)}"


def _lookup(raw: Mapping[str, Any], loc: list[str]) -> Any:
    node: Any = raw
    for part in loc:
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    """The settings section inside `X`, `X | None` or `list[X]`, if any."""
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _model_at(loc: list[str]) -> type[BaseModel]:
    """The section model an error location points into (list indexes skipped)."""
    model: type[BaseModel] = Settings
    for part in (p for p in loc if not p.isdigit()):
        field = next((f for n, f in model.model_fields.items() if (f.alias or n) == part), None)
        nested = _nested_model(field.annotation) if field else None
        if nested is None:
            break
        model = nested
    return model


def secret_paths(config: Mapping[str, Any]) -> list[tuple[str, ...]]:
    """Where a stack's config holds secrets: (full config key, path below it...) for every secret setting
    (by any spelling; a map of secrets, such as runnerAuthTokens, entry by entry) and provider credential."""
    paths: list[tuple[str, ...]] = []
    for key, value in config.items():
        namespace, _, name = key.partition(":")
        if key in PROVIDER_SECRET_KEYS or (namespace == NAMESPACE and _spelling(name) in _SECRET_SPELLINGS):
            value = _decode(value)
            if isinstance(value, Mapping):
                paths += [(key, str(entry)) for entry, v in value.items() if v not in (None, "")]
            elif value not in (None, ""):
                paths.append((key,))
    return paths


def _shown(path: Sequence[str]) -> str:
    """A config path as users name it: `runnerAuthTokens.n8n-worker-1`, `digitalocean:token`."""
    return ".".join((path[0].removeprefix(NAMESPACE + ":"), *path[1:]))


def _canonical(path: Sequence[str]) -> tuple[str, ...]:
    namespace, _, name = path[0].partition(":")
    if namespace != NAMESPACE:
        return tuple(path)
    return (f"{NAMESPACE}:{_SECRET_SPELLINGS.get(_spelling(name), name)}", *path[1:])


def set_secret_command(path: Sequence[str], stack: str) -> str:
    """The command that stores a secret encrypted; without a value on the command line it prompts for it."""
    path = _canonical(path)
    flags = "--secret" if len(path) == 1 else "--path --secret"
    return f"pulumi config set {flags} {_shown(path)} -s {stack}"


def _plaintext_problems(config: Mapping[str, Any], encrypted: Collection[str], stack: str, source: str
                        ) -> list[Problem]:
    problems = []
    for path in secret_paths(config):
        if any(".".join(path[:i]) in encrypted for i in range(1, len(path) + 1)):
            continue
        misspelt = f", delete {_shown(path)} from {source}," if _canonical(path) != tuple(path) else ""
        problems.append(Problem(_shown(path), f"is in plain text in {source}: anyone who can read the repository "
                                              "or its history has it. Store it encrypted with "
                                              f"`{set_secret_command(path, stack)}` (it prompts for the value)"
                                              f"{misspelt} and treat the old value as leaked"))
    return problems


def parse_settings(config: Mapping[str, Any], stack: str, source: str,
                   encrypted: Collection[str] | None = None) -> tuple[Settings, list[Problem]]:
    """The first phase of loading: Settings from a stack's config mapping (`n8n-platform:key` -> value, as
    the engine hands it over: text and JSON text; or as read from YAML); other namespaces are ignored.
    With `encrypted` (the config keys, or `key.entry` paths, the source holds encrypted), a secret in plain
    text is a problem. Raises SettingsError when a value does not fit the model; otherwise returns the
    settings with the problems found so far, for the cross-checks to add to (stack/loader.py)."""
    prefix = NAMESPACE + ":"
    raw = {k[len(prefix):]: _decode(v) for k, v in config.items() if k.startswith(prefix)}
    problems = [] if encrypted is None else _plaintext_problems(config, encrypted, stack, source)
    try:
        # Keys by their config names only: `encryption_key` is not `encryptionKey` to the Pulumi CLI.
        settings = Settings.model_validate(raw, by_name=False)
    except ValidationError as err:
        raise SettingsError(problems + _pydantic_problems(err, raw), source) from None
    settings._stack = stack
    return settings, problems


def instance_range(instances: int | None, autoscaling: Autoscaling | None) -> tuple[int, int]:
    """A component's (minimum, maximum) instances: its autoscaling range, else its fixed count, else App
    Platform's default of one."""
    if autoscaling is not None:
        return autoscaling.min_instances, autoscaling.max_instances
    return (instances or 1), (instances or 1)
