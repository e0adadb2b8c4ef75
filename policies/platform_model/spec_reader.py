"""The one reader of an App spec, in the engine's shape (what a policy pack receives, values unknown at
preview included) or the API's: its components, what each runs (platform_model/roles.py), their env vars,
scale and database bindings. The policy pack reads every App through it, and so does the deployment the
cost and capacity rules price and count (platform_model/deployment.py). Stdlib only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

from . import roles
from .spec_fields import env_entries, is_unknown, spec_value


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

    @cached_property
    def env(self) -> dict[str, Mapping[str, Any]]:
        return env_entries(self.data)

    def value(self, key: str, default: Any = None) -> Any:
        entry = self.env.get(key)
        return default if entry is None else entry.get("value", default)

    def flag(self, key: str) -> bool | None:
        """An env var read as n8n reads a boolean: True, False, None when unset; unknown stays unknown."""
        v = self.value(key)
        if v is None or is_unknown(v):
            return v
        return str(v).strip().lower() == "true"

    @property
    def size(self) -> Any:
        """Its instance size slug; None when the spec names none."""
        return spec_value(self.data, "instance_size_slug")

    @property
    def autoscaling(self) -> Any:
        return self.data.get("autoscaling")

    @property
    def min_instances(self) -> Any:
        """Instances at minimum scale: autoscaling's min, else instanceCount, else App Platform's 1."""
        return self._instances("min_instance_count")

    @property
    def max_instances(self) -> Any:
        """Instances at maximum scale: autoscaling's max, else instanceCount, else App Platform's 1."""
        return self._instances("max_instance_count")

    def _instances(self, autoscaling_bound: str) -> Any:
        auto = self.autoscaling
        if auto is not None:
            return auto if is_unknown(auto) else spec_value(auto, autoscaling_bound)
        count = spec_value(self.data, "instance_count")
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
        return iter(self._components)

    @cached_property
    def _components(self) -> list[Component]:
        # Made once, so each component's recognition is worked out once however many questions are asked.
        found = []
        for kind in ("services", "workers", "jobs"):
            items = self.data.get(kind) or []
            if not is_unknown(items):
                found += [Component(kind, item) for item in items if isinstance(item, dict)]
        return found

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


def app_spec(props: dict) -> tuple[AppSpec | None, list[str]]:
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


# `${<binding>.HOSTNAME}`, or `${<binding>.<pool>.HOSTNAME}` for a connection pool of that binding's
# cluster (App Platform's bindable variables; DigitalOcean docs, "How to Use Environment Variables").
_BOUND_HOST = re.compile(r"\$\{([A-Za-z0-9_-]+)(?:\.([A-Za-z0-9_-]+))?\.HOSTNAME\}")


@dataclass(frozen=True)
class BoundHost:
    binding: str  # the App spec `databases` entry
    pool: str | None  # a connection pool of that entry's cluster, when n8n connects through one


def bound_host(value: Any) -> BoundHost | None:
    """The database binding (and pool) a host env var names, or None for anything else (a literal host,
    an unknown)."""
    match = _BOUND_HOST.fullmatch(value) if isinstance(value, str) else None
    return BoundHost(match.group(1), match.group(2)) if match else None


def broker_address(uri: Any) -> tuple[str | None, int | None]:
    """(service, port) a runner pool's N8N_RUNNERS_TASK_BROKER_URI names; App Platform resolves a service
    by its name. (None, None) when the URI is unknown at preview or not a URL."""
    if not isinstance(uri, str) or is_unknown(uri):
        return None, None
    try:
        parts = urlsplit(uri)
        return parts.hostname, parts.port
    except ValueError:
        return None, None
