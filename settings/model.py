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
from dataclasses import dataclass
from typing import Annotated, Any, Collection, Mapping, Optional, Sequence

from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, SecretStr,
                      ValidationError)
from pydantic.alias_generators import to_camel

from platform_model import catalog

NAMESPACE = "n8n-platform"

# The settings that hold secrets: the one list every check reads (plain-text refusal, redaction, stand-ins).
SECRET_KEYS = ("encryptionKey", "runnerAuthTokens", "licenseKey", "dockerHubCredentials")
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
    return all(p == "*" or _spelling(p) == _spelling(q) for p, q in zip(pattern, path))


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


def _nested_model(annotation: Any) -> Optional[type[BaseModel]]:
    """The settings section inside `X`, `Optional[X]` or `list[X]`, if any."""
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
                   encrypted: Optional[Collection[str]] = None) -> tuple[Settings, list[Problem]]:
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


def instance_range(instances: Optional[int], autoscaling: Optional[Autoscaling]) -> tuple[int, int]:
    """A component's (minimum, maximum) instances: its autoscaling range, else its fixed count, else App
    Platform's default of one."""
    if autoscaling is not None:
        return autoscaling.min_instances, autoscaling.max_instances
    return (instances or 1), (instances or 1)
