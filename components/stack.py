"""Where a stack's settings come from: the Pulumi runtime (under `pulumi up`/`preview` and the mocks),
or a `Pulumi.<stack>.yaml` file read directly by the offline tools."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .settings import Problem, Settings, SettingsError, load_settings

PROJECT_DIR = Path(__file__).resolve().parent.parent


def stack_file(stack: str) -> Path:
    """`Pulumi.<stack>.yaml` in the working directory, as the Pulumi CLI reads it, else in this project."""
    here = Path.cwd() / f"Pulumi.{stack}.yaml"
    return here if here.exists() else PROJECT_DIR / f"Pulumi.{stack}.yaml"


@dataclass
class StackFile:
    stack: str
    config: dict[str, Any]
    # Keys whose values the file holds encrypted (`secure:`); offline tools cannot read them.
    encrypted: list[str] = field(default_factory=list)


def read_stack_file(stack: str, path: Path | None = None) -> StackFile:
    path = path or stack_file(stack)
    if not path.exists():
        known = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in PROJECT_DIR.glob("Pulumi.*.yaml"))
        problem = Problem("stack", f"has no {path.name}; stacks in this project: {', '.join(known)}", stack)
        raise SettingsError([problem], path.name)
    data = yaml.safe_load(path.read_text()) or {}
    config: dict[str, Any] = {}
    encrypted: list[str] = []
    for key, value in (data.get("config") or {}).items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            encrypted.append(key)
            continue
        config[key] = value
    return StackFile(stack, config, encrypted)


def settings_from_file(stack: str, path: Path | None = None) -> Settings:
    sf = read_stack_file(stack, path)
    return load_settings(sf.config, stack, (path or stack_file(stack)).name)


def pulumi_config() -> dict[str, Any]:
    """Every config value the Pulumi engine handed this program (or the mocks set)."""
    from pulumi.runtime import config as runtime_config

    merged = dict(runtime_config.get_config_env())
    merged.update(runtime_config.CONFIG.get())
    return merged


def settings_from_pulumi() -> Settings:
    """Settings for the running stack; invalid settings stop the program before any resource is
    registered, with the list of problems and no stack trace."""
    import pulumi

    stack = pulumi.get_stack()
    try:
        return load_settings(pulumi_config(), stack)
    except SettingsError as err:
        raise pulumi.RunError(str(err)) from None
