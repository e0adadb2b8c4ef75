"""The values of an App spec one field at a time: a key in either spelling — the API's snake_case (what
`doctl` and `offline.render` use) or the camelCase the Pulumi engine hands a policy pack —, the env vars,
and the engine's values unknown at preview. Stdlib only: the policy pack imports it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# During `pulumi preview` a value computed by another resource (a generated password, an id) reaches a
# policy pack as one of these sentinel strings, one per kind of value (pulumi/pulumi
# sdk/go/common/resource/plugin/rpc.go; pulumi_policy/proxy.py holds the same, and tests/test_roles.py
# keeps the two equal).
UNKNOWNS = frozenset({
    "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7",  # boolean
    "3eeb2bf0-c639-47a8-9e75-3b44932eb421",  # number
    "04da6b54-80e4-46f7-96ec-b56ff0331ba9",  # string
    "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",  # array
    "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",  # object
    "030794c1-ac77-496b-92df-f27374a8bd58",  # asset
    "e48ece36-62e2-4504-bad9-02848725956a",  # archive
})


def is_unknown(value: Any) -> bool:
    return isinstance(value, str) and value in UNKNOWNS


def number(value: Any) -> float | None:
    """A known number (the wire carries every number as a float), else None."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def spec_value(obj: Mapping[str, Any], snake: str) -> Any:
    """A key in the API's snake_case or the engine's camelCase."""
    if snake in obj:
        return obj[snake]
    head, *rest = snake.split("_")
    return obj.get(head + "".join(w.title() for w in rest))


def ports(component: Mapping[str, Any]) -> list[Any]:
    """Every port the component names, as written (None where a field is unset): its HTTP port, internal
    ports and health-check ports."""
    found = [spec_value(component, "http_port")]
    internal = spec_value(component, "internal_ports")
    found += internal if isinstance(internal, list) else []
    for check in ("health_check", "liveness_health_check"):
        probe = spec_value(component, check)
        found.append(spec_value(probe, "port") if isinstance(probe, Mapping) else None)
    return found


def env_entries(component: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """A component's env vars by name (`key`), each with its `value`, `type` and `scope`."""
    envs = component.get("envs")
    if not isinstance(envs, list):
        return {}
    return {e["key"]: e for e in envs if isinstance(e, Mapping) and isinstance(e.get("key"), str)}
