"""Reading an App spec in either spelling: the API's snake_case (what `doctl` and `offline.render` use) or
the camelCase the Pulumi engine hands a policy pack. Stdlib only: the policy pack imports it."""

from __future__ import annotations

from typing import Any, Mapping


def spec_value(obj: Mapping[str, Any], snake: str) -> Any:
    """A key in the API's snake_case or the engine's camelCase."""
    if snake in obj:
        return obj[snake]
    head, *rest = snake.split("_")
    return obj.get(head + "".join(w.title() for w in rest))


def env_entries(component: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """A component's env vars by name (`key`), each with its `value`, `type` and `scope`."""
    envs = component.get("envs")
    if not isinstance(envs, list):
        return {}
    return {e["key"]: e for e in envs if isinstance(e, Mapping) and isinstance(e.get("key"), str)}
