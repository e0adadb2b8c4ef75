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
# Never shown; accepted in plain text with a note (docs/stack-files.md says why).
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
                         "docs/settings.md lists every key with its default.")
        super().__init__("\n".join(lines))


# --- field types ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Check(AfterValidator):
    """A check pydantic runs after the type check, and what it allows in JSON Schema terms, so that the
    generated stack-file schema (settings/docs.py) tells an editor the same limits the check enforces."""

    allows: tuple[tuple[str, Any], ...] = ()  # (JSON Schema keyword, value) pairs; hashable, as typing wants

    def __get_pydantic_json_schema__(self, core_schema, handler):
        return {**handler(core_schema), **{k: list(v) if isinstance(v, tuple) else v for k, v in self.allows}}


def _between(lo: int, hi: int):
    def check(v: int) -> int:
        if not lo <= v <= hi:
            raise ValueError(f"must be between {lo} and {hi}")
        return v

    return _Check(check, (("minimum", lo), ("maximum", hi)))


def _one_of(allowed, what: str, written=None):
    """`written`: the values as a stack file may write them, when that differs (a version `17` for "17")."""
    allowed = tuple(allowed)

    def check(v: str) -> str:
        if v not in allowed:
            close = difflib.get_close_matches(str(v), allowed, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ValueError(f"must be one of the {what}: {', '.join(allowed)}{hint}")
        return v

    if written is None:
        return _Check(check, (("enum", allowed),))
    return _Check(check, (("enum", tuple(written)), ("type", ("string", "integer"))))


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

    return _Check(check, (("pattern", "^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$"),))


AppSizeSlug = Annotated[str, _one_of(catalog.APP_SIZES, "App Platform instance sizes")]
DatabaseSizeSlug = Annotated[str, _one_of(catalog.DATABASE_SIZES, "managed database sizes")]
Seconds = Annotated[int, _between(1, 3600)]
Percent = Annotated[int, _between(1, 100)]
MonthlyUsd = Annotated[float, _between(0, 1_000_000)]
Instances = Annotated[int, _between(1, catalog.MAX_INSTANCES_PER_COMPONENT)]
DatabaseNodes = Annotated[int, _between(1, catalog.MAX_DATABASE_NODES)]


def _major_version(allowed, what: str):
    """One of `allowed` major versions, which YAML hands over as a number (`17`) or as text (`"17"`)."""
    allowed = tuple(allowed)
    return _one_of(allowed, what, written=(*allowed, *(int(v) for v in allowed)))


PostgresVersion = Annotated[str, BeforeValidator(_no_whole_objects),
                            _major_version(catalog.POSTGRES_VERSIONS, "PostgreSQL versions")]
ValkeyVersion = Annotated[str, BeforeValidator(_no_whole_objects),
                          _major_version(catalog.VALKEY_VERSIONS, "Valkey versions")]


class _Section(BaseModel):
    # Strict: YAML and JSON types are taken as written (no bool->int, float->int or "3"->3 coercion).
    # Keys are matched by their camelCase config names only (see parse_settings).
    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True, strict=True,
        hide_input_in_errors=True, allow_inf_nan=False,
    )


# --- observability and production hardening (docs/observability.md) ---------------------------------


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

    min_instances: Instances = Field(
        default=1,
        description="Instances the component never scales below.")
    max_instances: Instances = Field(
        default=2,
        description="Instances the component never scales above; capacity, connections and cost are counted at this "
                    "maximum.")
    cpu_percent: Percent = Field(
        default=80,
        description="Average CPU use, in percent, that App Platform keeps the instances at by adding or removing them.")


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
    n8n: Annotated[str, _Check(_check_digest, (("pattern", "^sha256:[0-9a-f]{64}$"),))] = Field(
        alias="n8n", description="Digest of n8nio/n8n:<version> (sha256:...), deployed instead of the tag.")
    runners: Annotated[str, _Check(_check_digest, (("pattern", "^sha256:[0-9a-f]{64}$"),))] = Field(
        description="Digest of n8nio/runners:<version> (sha256:...), deployed instead of the tag.")


class UpgradeSettings(_Section):
    """How version changes are allowed (docs/upgrades.md)."""

    acknowledge_major: Annotated[int, _between(3, 99)] | None = Field(
        default=None,
        description="The n8n major you have read the migration report for (Settings > Migration Report in the "
                    "running editor); the deploy workflow refuses a change to a new major without it. "
                    "Default: unset, so no major upgrade happens unread.")


class N8nSettings(_Section):
    version: Annotated[str, BeforeValidator(_no_whole_objects),
                       _Check(_check_version, (("pattern", r"^\d+\.\d+\.\d+$"),))] = Field(
        default=catalog.DEFAULT_N8N_VERSION,
        description="The pinned n8n release, the image tag of both n8nio/n8n and n8nio/runners (a floating tag such as "
                    "latest is refused, so that every deployment runs what was tested).")
    timezone: Annotated[str, AfterValidator(_check_timezone)] = Field(
        default="UTC",
        description="The IANA time zone n8n's schedules run in (GENERIC_TIMEZONE and TZ).")
    offload_manual_executions: bool = Field(
        default=True,
        description="Run manual executions from the editor on the workers, as n8n recommends in queue mode; false "
                    "makes main a task broker with its own runner pool (n8n-runners-main).")
    multi_main: bool = Field(
        default=False,
        description="n8n's licensed multi-main mode, the only way main may run more than one instance; needs "
                    "licenseKey.")
    graceful_shutdown_seconds: Annotated[int, _between(1, 600 - catalog.SHUTDOWN_MARGIN_SECONDS)] = Field(
        default=catalog.DEFAULT_GRACEFUL_SHUTDOWN_SECONDS,
        description="Seconds n8n gets to finish running executions when stopped (N8N_GRACEFUL_SHUTDOWN_TIMEOUT, "
                    "n8n's default); every component's termination grace period is "
                    f"{catalog.SHUTDOWN_MARGIN_SECONDS} s longer.")
    task_timeout_seconds: Seconds = Field(
        default=catalog.DEFAULT_TASK_TIMEOUT_SECONDS,
        description="Seconds a Code-node task may run before it is stopped (N8N_RUNNERS_TASK_TIMEOUT), set on brokers "
                    "and runners alike because their own defaults differ.")
    db_pool_size: Annotated[int, _between(1, 50)] = Field(
        default=catalog.DEFAULT_DB_POOL_SIZE,
        description="PostgreSQL connections each n8n process opens at most (DB_POSTGRESDB_POOL_SIZE, n8n's default); "
                    "the connection budget counts it for every instance at maximum scale.")
    queue_recovery_minutes: Annotated[int, _between(1, 180)] = Field(
        default=catalog.DEFAULT_QUEUE_RECOVERY_MINUTES,
        description="Minutes between main's checks that mark executions left `running` without a queue job "
                    "(e.g. a worker that could not save during a database outage) as crashed "
                    "(N8N_EXECUTIONS_QUEUE_RECOVERY_INTERVAL); n8n's default 180 leaves them stuck for hours, 3 keeps "
                    "every drill under five minutes.")
    digests: ImageDigests | None = Field(
        default=None,
        description="Pin n8nio/n8n and n8nio/runners by digest instead of by the version's tag. "
                    "Default: unset, the tag n8n.version names.")


class MainSettings(_Section):
    size: AppSizeSlug = Field(
        default="apps-d-1vcpu-2gb",
        description="Instance size of n8n-main (UI, API, webhooks).")
    instances: Instances = Field(
        default=1,
        description="Instances of n8n-main; more than 1 only with n8n.multiMain, since two mains without it would both "
                    "run every schedule.")
    autoscaling: Autoscaling | None = Field(
        default=None,
        description="CPU autoscaling of n8n-main; only with n8n.multiMain and a dedicated (apps-d-*) size.")


class WorkerSettings(_Section):
    pairs: Annotated[int, _between(1, 20)] = Field(
        default=2,
        description="Worker pairs: each is one single-instance n8n worker (`n8n-worker-<i>`) with its own runner pool "
                    "(`n8n-runners-<i>`); two keep executions running while one restarts.")
    size: AppSizeSlug = Field(
        default="apps-d-1vcpu-2gb",
        description="Instance size of each worker.")
    concurrency: Annotated[int, _between(1, 200)] = Field(
        default=catalog.DEFAULT_WORKER_CONCURRENCY,
        description="Production executions each worker runs at once (N8N_CONCURRENCY_PRODUCTION_LIMIT); n8n "
                    "discourages less than 5.")


class RunnerSettings(_Section):
    size: AppSizeSlug = Field(
        default="apps-d-1vcpu-1gb",
        description="Instance size of each runner pool.")
    instances: Instances = Field(
        default=1,
        description="Runner instances in each pool (the fixed count when the pool does not autoscale).")
    max_concurrency: Annotated[int, _between(1, 100)] = Field(
        default=catalog.DEFAULT_RUNNER_MAX_CONCURRENCY,
        description="Code-node tasks each runner takes at once (N8N_RUNNERS_MAX_CONCURRENCY); a pool should take as "
                    "many as its worker runs executions.")
    autoscaling: Autoscaling | None = Field(
        default=None,
        description="CPU autoscaling of each runner pool; dedicated (apps-d-*) sizes only.")


class WebhookSettings(_Section):
    processors: Annotated[int, _between(0, catalog.MAX_INSTANCES_PER_COMPONENT)] = Field(
        default=0,
        description="Instances of n8n-webhook (`n8n webhook`), which take /webhook/ and /webhook-waiting/ off main; 0 "
                    "leaves webhooks to main.")
    size: AppSizeSlug = Field(
        default="apps-d-1vcpu-1gb",
        description="Instance size of the webhook processors.")
    autoscaling: Autoscaling | None = Field(
        default=None,
        description="CPU autoscaling of the webhook processors; dedicated (apps-d-*) sizes only.")


class MaintenanceWindow(_Section):
    day: Annotated[str, _one_of(catalog.WEEKDAYS, "weekdays")] = Field(
        default="sunday",
        description="Day of the cluster's weekly maintenance window.")
    hour: Annotated[str, _Check(_check_hour, (("pattern", "^([01][0-9]|2[0-3]):00$"),))] = Field(
        default="03:00",
        description="Start of the maintenance window, a whole hour in UTC (HH:00, quoted in YAML).")


class ConnectionPool(_Section):
    """A DigitalOcean (PgBouncer) connection pool between n8n and PostgreSQL."""

    mode: Annotated[str, _one_of(catalog.POOL_MODES, "PgBouncer modes n8n works with")] = Field(
        default=catalog.DEFAULT_POOL_MODE,
        description="How n8n's connections share the pool's: transaction (per transaction, which n8n 2.x supports) or "
                    "session; statement mode breaks n8n's multi-statement transactions.")
    # Server connections the pool may open; default: all the cluster allows beyond the headroom.
    size: Annotated[int, _between(1, 5000)] | None = Field(
        default=None,
        description="Server connections the pool opens to PostgreSQL; unset, all the cluster allows beyond the "
                    "connection headroom.")


class RestoreFrom(_Section):
    """Create the stack's PostgreSQL cluster as a fork of another cluster's backups (point-in-time)."""

    cluster: Annotated[str, _lower_dns_label("a DigitalOcean database cluster name")] = Field(
        description="Name of the existing DigitalOcean PostgreSQL cluster whose backups are restored.")
    time: Annotated[str, AfterValidator(_check_restore_time)] = Field(
        default="latest",
        description="The moment to restore to, RFC 3339 with offset, or `latest` for the newest backup DigitalOcean "
                    "holds (its retained backups bound how far back).")


class Replica(_Section):
    """A read-only copy of the PostgreSQL cluster in another region, to promote after a regional outage."""

    region: Annotated[str, AfterValidator(_check_region)] = Field(
        description="Datacenter of the replica; must differ from the stack's region to survive its loss.")
    size: DatabaseSizeSlug | None = Field(
        default=None,
        description="Managed database size of the replica; default the primary's size, so a promoted replica "
                    "carries the same load.")


class PostgresSettings(_Section):
    version: PostgresVersion = Field(
        default=catalog.DEFAULT_POSTGRES_VERSION,
        description="PostgreSQL major version.")
    size: DatabaseSizeSlug = Field(
        default="db-s-2vcpu-4gb",
        description="Cluster size; standby nodes need at least 2 GiB of RAM, and the size sets how many connections "
                    "the cluster allows (25 per GiB, minus 3).")
    nodes: DatabaseNodes = Field(
        default=2,
        description="Nodes of the cluster: 1 (no high availability), 2 (primary + standby) or 3.")
    maintenance: MaintenanceWindow = Field(
        default=MaintenanceWindow(),
        description="The cluster's weekly maintenance window.")
    connection_pool: ConnectionPool | None = Field(
        default=None,
        description="Put a DigitalOcean (PgBouncer) connection pool between n8n and PostgreSQL, for when n8n's "
                    "connections at maximum scale would not fit the cluster; unset, no pool.")
    storage_autoscale: StorageAutoscale = Field(
        default=StorageAutoscale(),
        description="Disk autoscaling of the cluster.")
    restore_from: RestoreFrom | None = Field(
        default=None,
        description="Create the cluster as a point-in-time fork of another cluster (a restore); needs that stack's "
                    "encryptionKey.")
    replica: Replica | None = Field(
        default=None,
        description="A read-only replica in another region for disaster recovery; billed like one node.")


class ValkeySettings(_Section):
    version: ValkeyVersion = Field(
        default=catalog.DEFAULT_VALKEY_VERSION,
        description="Valkey major version (n8n's job queue).")
    size: DatabaseSizeSlug = Field(
        default="db-s-1vcpu-2gb",
        description="Cluster size; standby nodes need at least 2 GiB of RAM.")
    nodes: DatabaseNodes = Field(
        default=2,
        description="Nodes of the cluster: 1 (no high availability), 2 (primary + standby) or 3.")
    maintenance: MaintenanceWindow = Field(
        default=MaintenanceWindow(day="sunday", hour="04:00"),
        description="The cluster's weekly maintenance window, an hour after PostgreSQL's by default.")


class AppSettings(_Section):
    """How the App Platform app meets two behaviours a first deployment settles (docs/operations.md)."""

    # App Platform's VPC attachment is a preview that DigitalOcean support enables per team; a team without
    # it cannot create an app that asks for one. Off, n8n reaches the (VPC-attached) databases at their
    # public hostnames, TLS-verified, admitted only by the trusted-source rule for this app.
    vpc: bool = Field(
        default=False,
        description="Attach the App Platform app to the stack's VPC; needs App Platform's VPC attachment on your team, "
                    "and the clusters are in the VPC either way.")
    run_command_replaces: Annotated[str, _one_of(catalog.RUN_COMMAND_REPLACES, "image parts App Platform's "
                                                 "run_command can replace")] = Field(
        default=catalog.DEFAULT_RUN_COMMAND_REPLACES,
        description="What App Platform's run_command replaces in the n8n image: entrypoint gives workers `n8n worker` "
                    "(as DigitalOcean's template does), cmd gives `worker` for the image's own entrypoint to run.")


class BackupSettings(_Section):
    """Encrypted logical dumps of n8n's database to a Spaces bucket the stack creates (docs/backups.md)."""

    recipient: Annotated[str, _Check(_check_age_recipient, (("pattern", "^age1[02-9ac-hj-np-z]{58}$"),))] = Field(
        ..., description="age public key every dump is encrypted to; its private key stays offline, so "
                         "neither the bucket's keys nor the app can read a backup.")
    schedule: Annotated[str, _Check(_check_interval, (("pattern", "^[0-9]+h$"),))] = Field(
        catalog.DEFAULT_BACKUP_SCHEDULE,
        description=f"How often the backup worker dumps, in whole hours from 1h to "
                    f"{catalog.MAX_BACKUP_INTERVAL_HOURS}h (e.g. 6h); 6h bounds the loss to 6 hours beyond "
                    "DigitalOcean's own backups.")
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

    app: dict[AppSizeSlug, MonthlyUsd] = Field(
        default={},
        description="USD a month per App Platform instance, by size slug, replacing the price table's figure.")
    postgres: dict[DatabaseSizeSlug, MonthlyUsd] = Field(
        default={},
        description="USD a month per PostgreSQL node, by size slug (e.g. your invoice's figure).")
    valkey: dict[DatabaseSizeSlug, MonthlyUsd] = Field(
        default={},
        description="USD a month per Valkey node, by size slug.")


class CostSettings(_Section):
    monthly_budget: Annotated[float, _between(1, 1_000_000)] | None = Field(
        default=None,
        description="USD a month the stack may cost at maximum scale; above it the monthly-budget policy warns and "
                    "`python -m offline.cost` exits 1.")
    prices: PriceOverrides = Field(
        default=PriceOverrides(),
        description="Prices that replace the dated price table for this stack.")


class SlackWebhook(_Section):
    url: Annotated[str, _Check(_check_slack, (("pattern", "^https://hooks\\.slack\\.com/"),))] = Field(
        description="The Slack incoming-webhook URL, a credential that is never printed (may be stored encrypted).")
    channel: str = Field(
        description="The Slack channel the webhook posts to.")


class AlertSettings(_Section):
    emails: list[Annotated[str, _Check(_check_email, (("format", "email"),))]] = Field(
        default=[],
        description="E-mail addresses of DigitalOcean team members that receive every alert.")
    slack_webhooks: list[SlackWebhook] = Field(
        default=[],
        description="Slack incoming webhooks that receive every alert.")
    cpu_percent: Percent = Field(
        default=80,
        description="CPU use, in percent, that raises an alert for any component or cluster.")
    memory_percent: Percent = Field(
        default=85,
        description="Memory use, in percent, that raises an alert for any component or cluster.")
    restart_count: Annotated[int, _between(1, 100)] = Field(
        default=3,
        description="Restarts of a component within five minutes that raise an alert.")


class Settings(_Section):
    """Every setting of one stack. Field names map to config keys in camelCase."""

    region: Annotated[str, _Check(_check_region, (("enum", tuple(catalog.DATACENTER_TO_APP_REGION)),))] = Field(
        default="ams3",
        description="The DigitalOcean datacenter of the databases and the VPC; the App Platform region is derived from "
                    "it (ams3 -> ams).")
    name: Annotated[str, _Check(_check_name, (("pattern", "^[a-z][a-z0-9-]{1,18}[a-z0-9]$"),))] | None = Field(
        default=None,
        description="Prefix of the App and database cluster names, 3-20 characters; unset, `n8n-<stack>`.")
    domain: Annotated[str, AfterValidator(_check_hostname)] | None = Field(
        default=None,
        description="Custom domain such as n8n.example.com; unset, the app lives at its ondigitalocean.app URL.")
    # `protect` on database clusters and the encryption key; turning it off is asked for by name.
    protect: Annotated[bool, BeforeValidator(_engine_bool)] = Field(
        default=True,
        description="Pulumi's protect on both database clusters and the generated encryption key, so that no `pulumi "
                    "up` deletes or replaces them.")
    # The alias because to_camel would spell it n8N.
    n8n: N8nSettings = Field(
        default=N8nSettings(), alias="n8n",
        description="n8n itself: release, time zone, execution and shutdown behaviour.")
    app: AppSettings = Field(
        default=AppSettings(),
        description="How the App Platform app is attached and started.")
    main: MainSettings = Field(
        default=MainSettings(),
        description="n8n-main: the UI, the API and webhooks.")
    workers: WorkerSettings = Field(
        default=WorkerSettings(),
        description="The worker pairs that run executions.")
    runners: RunnerSettings = Field(
        default=RunnerSettings(),
        description="Each worker's runner pool (n8nio/runners), where Code nodes run.")
    webhooks: WebhookSettings = Field(
        default=WebhookSettings(),
        description="Optional webhook processors.")
    postgres: PostgresSettings = Field(
        default=PostgresSettings(),
        description="The managed PostgreSQL cluster that holds n8n's data.")
    valkey: ValkeySettings = Field(
        default=ValkeySettings(),
        description="The managed Valkey cluster that holds n8n's job queue.")
    alerts: AlertSettings = Field(
        default=AlertSettings(),
        description="Where alerts go and when they fire.")
    cost: CostSettings = Field(
        default=CostSettings(),
        description="The monthly budget and price overrides.")
    observability: ObservabilitySettings = Field(
        default=ObservabilitySettings(),
        description="Logs, metrics, uptime.")
    executions: ExecutionDataSettings = Field(
        default=ExecutionDataSettings(),
        description="Execution data retention.")
    hardening: HardeningSettings = Field(
        default=HardeningSettings(),
        description="n8n's privacy and sandbox settings.")
    upgrade: UpgradeSettings = Field(
        default=UpgradeSettings(),
        description="Guards for changing n8n's version.")
    backups: BackupSettings | None = Field(
        default=None,
        description="Off-cluster encrypted backups; the policy pack requires them in production.")
    # Secrets: set with `pulumi config set --secret`; generated when absent (see components/secrets.py).
    encryption_key: SecretStr | None = Field(
        default=None,
        description="n8n's N8N_ENCRYPTION_KEY, which encrypts every credential stored in n8n; unset, a generated "
                    "48-character key kept protected in Pulumi's state (set it when you migrate an existing n8n).")
    runner_auth_tokens: dict[str, SecretStr] = Field(
        default={},
        description="The auth token of each task broker and its runner pool, by broker "
                    "(`runnerAuthTokens.n8n-worker-1`); unset entries are generated, and all must differ.")
    license_key: SecretStr | None = Field(
        default=None,
        description="n8n's license activation key (N8N_LICENSE_ACTIVATION_KEY), needed for n8n.multiMain.")
    # "<username>:<access token>" for every image App Platform pulls from Docker Hub; anonymous without it.
    docker_hub_credentials: SecretStr | None = Field(
        default=None,
        description="`<username>:<read-only access token>` of a Docker Hub account that App Platform pulls every "
                    "Docker Hub image of the app with; unset, pulls are anonymous and rate-limited.")
    log_destination_secret: SecretStr | None = Field(
        default=None,
        description="The log destination's API key (datadog) or password (openSearch).")
    metrics_authorization: SecretStr | None = Field(
        default=None,
        description="The Authorization header value the collector sends to the metrics remote, e.g. "
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
