"""How the pack reads what the Pulumi engine sends it: plain values, unknowns, and the App spec.

The engine hands resource policies each resource's inputs and stack policies every resource's outputs
(a component's: what it passed to `register_outputs`), in the SDK's camelCase shape
(`spec.services[].envs[]`, `instanceCount`, `privateNetworkUuid`), numbers as floats, secrets
unwrapped. During `pulumi preview`
a value computed by another resource (a generated password, an id) is *unknown*: it arrives as one of
the engine's sentinel strings. `pulumi_policy` wraps the properties in a proxy that raises on an
unknown, and turns that into an advisory "can't run policy during preview" — even for a mandatory
policy. So every policy here reads `plain(...)` values and decides for itself, per value, whether an
unknown is acceptable (docs/policies.md lists the choice of each policy).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Callable, Iterable, Iterator, Optional
from urllib.parse import urlsplit

from pulumi_policy import (EnforcementLevel, PolicyResource, ResourceValidationArgs, ResourceValidationPolicy, Severity,
                           StackValidationArgs, StackValidationPolicy)
from pulumi_policy import proxy as _proxy
from pulumi_policy.deserialize import serialize_properties

from platform_model import roles

APP = "digitalocean:index/app:App"
CLUSTER = "digitalocean:index/databaseCluster:DatabaseCluster"
CONNECTION_POOL = "digitalocean:index/databaseConnectionPool:DatabaseConnectionPool"
BUDGET = "n8n-platform:cost:Budget"
DATABASE_DB = "digitalocean:index/databaseDb:DatabaseDb"
FIREWALL = "digitalocean:index/databaseFirewall:DatabaseFirewall"
MONITOR_ALERT = "digitalocean:index/monitorAlert:MonitorAlert"
RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword"
RANDOM_STRING = "random:index/randomString:RandomString"
VPC = "digitalocean:index/vpc:Vpc"

_UNKNOWNS = frozenset({
    _proxy.UNKNOWN_BOOLEAN_VALUE, _proxy.UNKNOWN_NUMBER_VALUE, _proxy.UNKNOWN_STRING_VALUE,
    _proxy.UNKNOWN_ARRAY_VALUE, _proxy.UNKNOWN_OBJECT_VALUE, _proxy.UNKNOWN_ASSET_VALUE,
    _proxy.UNKNOWN_ARCHIVE_VALUE,
})


def plain(props: Any) -> Any:
    """The properties as plain dicts/lists, unknowns kept as their sentinel strings. pulumi_policy's
    own serializer unwraps its unknown-checking proxies without raising."""
    return serialize_properties(props)


def is_unknown(value: Any) -> bool:
    return isinstance(value, str) and value in _UNKNOWNS


def number(value: Any) -> Optional[float]:
    """A known number (the wire carries every number as a float), else None."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


# --- policies ------------------------------------------------------------------------------------

Problems = Iterable[str]
StackProblems = Iterable[tuple[Optional[str], str]]  # (urn of the offending resource, message)


def resource_policy(*, name: str, description: str, severity: Severity, remediation: str,
                    types: tuple[str, ...], check: Callable[[dict, ResourceValidationArgs], Problems],
                    level: EnforcementLevel = EnforcementLevel.MANDATORY,
                    config_schema=None) -> ResourceValidationPolicy:
    """A policy that runs `check(plain_props, args)` on every resource of `types`; each string it yields
    is one violation."""

    def validate(args: ResourceValidationArgs, report_violation) -> None:
        if args.resource_type not in types:
            return
        for problem in check(plain(args.props), args):
            report_violation(problem)

    return ResourceValidationPolicy(name=name, description=description, validate=validate,
                                    enforcement_level=level, severity=severity, remediation_steps=remediation,
                                    config_schema=config_schema)


def stack_policy(*, name: str, description: str, severity: Severity, remediation: str,
                 check: Callable[["Stack"], StackProblems],
                 level: EnforcementLevel = EnforcementLevel.MANDATORY,
                 config_schema=None) -> StackValidationPolicy:
    """A policy over the whole stack; `check` yields (urn, message) pairs."""

    def validate(args: StackValidationArgs, report_violation) -> None:
        for urn, problem in check(Stack(args.resources, args.get_config() or {})):
            report_violation(problem, urn)

    return StackValidationPolicy(name=name, description=description, validate=validate,
                                 enforcement_level=level, severity=severity, remediation_steps=remediation,
                                 config_schema=config_schema)


# --- the stack (AnalyzeStack) --------------------------------------------------------------------


class Stack:
    """Every resource of the stack with its outputs as plain properties, and the dependency edges the
    engine sent."""

    def __init__(self, resources: list[PolicyResource], config: dict):
        self.resources = resources
        self.config = config
        self._props = {id(r): plain(r.props) for r in resources}

    def props(self, r: PolicyResource) -> dict:
        return self._props[id(r)]

    def of_type(self, type_: str) -> list[PolicyResource]:
        return [r for r in self.resources if r.resource_type == type_]

    def apps(self) -> Iterator[tuple[PolicyResource, Optional["AppSpec"], list[str]]]:
        """Each App with its readable spec, or the problem that makes it unreadable."""
        for app in self.of_type(APP):
            spec, problems = app_spec(self.props(app))
            yield app, spec, problems

    @staticmethod
    def depends_on(r: PolicyResource, prop: str, other: PolicyResource) -> bool:
        """Whether property `prop` of `r` was computed from `other` (the engine's propertyDependencies)."""
        return any(d.urn == other.urn for d in r.property_dependencies.get(prop, []))

    @staticmethod
    def dependencies_of_type(r: PolicyResource, prop: str, type_: str) -> list[PolicyResource]:
        return [d for d in r.property_dependencies.get(prop, []) if d.resource_type == type_]


# --- the App spec --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Component:
    """One service, worker or job of the App spec."""

    kind: str  # "services", "workers" or "jobs"
    data: dict

    @property
    def name(self) -> str:
        return self.data.get("name", "<unnamed>")

    @cached_property
    def recognition(self) -> roles.Recognition:
        """What it runs, by its command, settings, ports and image (policies/platform_model/roles.py)."""
        return roles.recognise(self.kind, self.data, is_unknown)

    @property
    def role(self) -> str:
        return self.recognition.role

    @property
    def is_n8n(self) -> bool:
        """main, a worker or a webhook processor."""
        return self.recognition.is_n8n_process

    @property
    def runs_n8n(self) -> bool:
        """An n8n process or a job running a one-shot n8n command: anything that opens n8n's database."""
        return self.recognition.runs_n8n

    @property
    def is_runner_pool(self) -> bool:
        return self.role == roles.RUNNERS

    @property
    def env(self) -> dict[str, dict]:
        return {e.get("key"): e for e in self.data.get("envs") or [] if isinstance(e, dict)}

    def value(self, key: str, default: Any = None) -> Any:
        entry = self.env.get(key)
        return default if entry is None else entry.get("value", default)

    def flag(self, key: str) -> Optional[bool]:
        """An env var read as n8n reads a boolean: True, False, None when unset; unknown stays unknown."""
        v = self.value(key)
        if v is None or is_unknown(v):
            return v
        return str(v).strip().lower() == "true"

    @property
    def autoscaling(self) -> Any:
        return self.data.get("autoscaling")

    @property
    def max_instances(self) -> Any:
        """Instances at maximum scale: autoscaling's max, else instanceCount, else App Platform's 1."""
        auto = self.autoscaling
        if auto is not None:
            return auto if is_unknown(auto) else auto.get("maxInstanceCount")
        count = self.data.get("instanceCount")
        return 1.0 if count is None else count

    @property
    def executes_workflows(self) -> bool:
        """Workers always; main unless manual executions are offloaded (n8n's default is not to)."""
        if self.role == roles.WORKER:
            return True
        return self.role == roles.MAIN and self.flag("OFFLOAD_MANUAL_EXECUTIONS_TO_WORKERS") is not True


class AppSpec:
    def __init__(self, spec: dict):
        self.data = spec

    def components(self) -> Iterator[Component]:
        for kind in ("services", "workers", "jobs"):
            items = self.data.get(kind) or []
            if is_unknown(items):
                continue
            for item in items:
                if isinstance(item, dict):
                    yield Component(kind, item)

    def n8n_processes(self) -> list[Component]:
        return [c for c in self.components() if c.is_n8n]

    def n8n_components(self) -> list[Component]:
        """Whatever holds n8n's key and database settings: the n8n processes, jobs that run an n8n command,
        and components that carry n8n's settings but cannot be recognised (n8n-components-recognised
        reports them; their settings are checked all the same)."""
        return [c for c in self.components()
                if c.runs_n8n or (c.role == roles.UNRECOGNISED and c.recognition.holds_n8n_settings)]

    def runner_pools(self) -> list[Component]:
        return [c for c in self.components() if c.is_runner_pool]

    def brokers(self) -> list[Component]:
        """n8n processes that execute workflows, so run Code nodes and need a task broker."""
        return [c for c in self.n8n_processes() if c.executes_workflows]

    def databases(self) -> list[dict]:
        items = self.data.get("databases") or []
        return [] if is_unknown(items) else [d for d in items if isinstance(d, dict)]


def app_spec(props: dict) -> tuple[Optional[AppSpec], list[str]]:
    """The App's spec, or the problem that it cannot be read (unknown at preview)."""
    spec = props.get("spec")
    if spec is None:
        return None, ["the App has no spec"]
    if not isinstance(spec, dict) and not is_unknown(spec):
        return None, ["the App spec is not an object"]
    if is_unknown(spec) or any(is_unknown(spec.get(k)) for k in ("services", "workers", "jobs")):
        return None, ["the App spec is not known at preview, so it cannot be checked; build it from "
                      "values known before `pulumi up`"]
    readable = AppSpec(spec)
    hidden = [c.name for c in readable.components() if is_unknown(c.data.get("envs"))]
    if hidden:
        return None, [f"the env vars of {', '.join(hidden)} are not known at preview, so they cannot be checked"]
    return readable, []


def app_check(check: Callable[[AppSpec, ResourceValidationArgs], Problems]):
    """Adapt a check of the App spec to `resource_policy`: an unreadable spec is itself a violation."""

    def run(props: dict, args: ResourceValidationArgs) -> Problems:
        spec, problems = app_spec(props)
        if spec is None:
            yield from problems
            return
        yield from check(spec, args)

    return run


# `${<binding>.HOSTNAME}`, or `${<binding>.<pool>.HOSTNAME}` for a connection pool of that binding's
# cluster (App Platform's bindable variables; DigitalOcean docs, "How to Use Environment Variables").
_BOUND_HOST = re.compile(r"\$\{([A-Za-z0-9_-]+)(?:\.([A-Za-z0-9_-]+))?\.HOSTNAME\}")


@dataclass(frozen=True)
class BoundHost:
    binding: str  # the App spec `databases` entry
    pool: Optional[str]  # a connection pool of that entry's cluster, when n8n connects through one


def bound_host(value: Any) -> Optional[BoundHost]:
    """The database binding (and pool) a host env var names, or None for anything else (a literal host,
    an unknown)."""
    match = _BOUND_HOST.fullmatch(value) if isinstance(value, str) else None
    return BoundHost(match.group(1), match.group(2)) if match else None


def broker_address(uri: Any) -> tuple[Optional[str], Optional[int]]:
    """(service, port) a runner pool's N8N_RUNNERS_TASK_BROKER_URI names; App Platform resolves a service
    by its name. (None, None) when the URI is unknown at preview or not a URL."""
    if not isinstance(uri, str) or is_unknown(uri):
        return None, None
    try:
        parts = urlsplit(uri)
        return parts.hostname, parts.port
    except ValueError:
        return None, None
