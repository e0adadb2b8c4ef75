"""Run the real program under mocks with a real stack file, and read what it registered."""

from __future__ import annotations

from typing import Any

from offline.engine import ProgramRun, run_program
from platform_model.catalog import APP
from settings.model import NAMESPACE, SECRET_KEYS
from stack.loader import merged, read_stack_file


def stack_config(stack: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The stack file's config with `overrides` ({"workers": {"pairs": 5}}) merged into its keys."""
    return merged(read_stack_file(stack).config,
                  {f"{NAMESPACE}:{key}": value for key, value in (overrides or {}).items()})


def run_stack(stack: str, overrides: dict[str, Any] | None = None) -> ProgramRun:
    """The program on the stack file plus `overrides`; secret settings among them arrive as the engine hands
    over what `pulumi config set --secret` stored."""
    secret = [f"{NAMESPACE}:{key}" for key in overrides or {} if key in SECRET_KEYS]
    return run_program(stack_config(stack, overrides), stack, secret)


# --- reading the registered App spec (the SDK's shape, camelCase keys as the engine sees them) ---


def app_spec(run: ProgramRun) -> dict:
    return run.one(APP).inputs["spec"]


def components(spec: dict) -> list[dict]:
    return spec.get("services", []) + spec.get("workers", []) + spec.get("jobs", [])


def component(spec: dict, name: str) -> dict:
    return next(c for c in components(spec) if c["name"] == name)


def env_of(comp: dict) -> dict[str, str]:
    return {e["key"]: e.get("value") for e in comp.get("envs", [])}


def env_entry(comp: dict, key: str) -> dict:
    return next(e for e in comp.get("envs", []) if e["key"] == key)
