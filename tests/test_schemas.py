"""What the program registers, and the App spec it renders, against the real schemas — for every shape
of stack the settings allow (tests/shapes.py).

Pulumi's mocks accept any property name and type; the pulumi-digitalocean provider's Check rejects
what its schema lacks, and DigitalOcean's API rejects an App spec its schema does not allow. The two
checkers are external tools named by environment variables (`.ci/run` sets them):

    PROVIDER_SCHEMA_CHECKER=/path/to/check-provider-schema \\
    APP_SPEC_VALIDATOR=/path/to/validate-app-spec venv/bin/python -m pytest -m schemas

Marked `schemas`: the README's test command deselects them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf import json_format

from offline.engine import ProgramRun
from offline.render import offline_spec, to_yaml
from settings.model import Settings
from shapes import SHAPES, Shape
from stack.loader import load_settings
from stackedit import StackEdit
from stackrun import run_stack, stack_config

pytestmark = pytest.mark.schemas

TOOLS = {
    "PROVIDER_SCHEMA_CHECKER": "check-provider-schema (the pulumi-digitalocean provider's schema)",
    "APP_SPEC_VALIDATOR": "validate-app-spec (DigitalOcean's strict App spec schema)",
}


def tool(variable: str) -> Path:
    path = os.environ.get(variable)
    if not path:
        pytest.fail(f"{variable} is not set: point it at {TOOLS[variable]}, e.g. "
                    f"`{variable}=/path/to/tool venv/bin/python -m pytest -m schemas` (.ci/run sets it)",
                    pytrace=False)
    if not Path(path).is_file():
        pytest.fail(f"{variable}={path}: no such file", pytrace=False)
    return Path(path)


def run_tool(tool_path: Path, argument: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(tool_path), str(argument)], capture_output=True, text=True,
                          timeout=120)


def provider_problems(run: ProgramRun, tmp_path: Path) -> dict:
    """The checker's report on every resource as the provider's Check would get it: type, name and the
    inputs the engine received."""
    checker = tool("PROVIDER_SCHEMA_CHECKER")
    probe = {"resources": [{"type": r.type, "name": r.name, "custom": r.custom,
                            "inputs": json_format.MessageToDict(r.properties)} for r in run.resources]}
    path = tmp_path / "resources.json"
    path.write_text(json.dumps(probe))
    done = run_tool(checker, path)
    assert done.returncode in (0, 1), done.stderr
    report = json.loads(done.stdout)
    providers = [r for r in run.resources if r.custom and r.type.startswith("digitalocean:")]
    assert report["checked"] == len(providers) > 0
    return report["problems"]


def spec_errors(spec: dict, tmp_path: Path) -> str:
    """The validator's errors for an App spec written as `python -m offline.render` writes it; "" if valid."""
    validator = tool("APP_SPEC_VALIDATOR")
    path = tmp_path / "app-spec.yaml"
    path.write_text(to_yaml(spec))
    done = run_tool(validator, path)
    assert done.returncode in (0, 1), done.stderr
    return "" if done.returncode == 0 else done.stdout


def shape_settings(shape: Shape) -> Settings:
    return load_settings(stack_config(shape.stack, shape.overrides), shape.stack)


@pytest.mark.parametrize("shape", SHAPES, ids=[s.name for s in SHAPES])
def test_registered_resources_fit_the_providers_schema(shape: Shape, tmp_path):
    tool("PROVIDER_SCHEMA_CHECKER")
    problems = provider_problems(run_stack(shape.stack, shape.overrides), tmp_path)
    assert problems == {}, json.dumps(problems, indent=1)


@pytest.mark.parametrize("shape", SHAPES, ids=[s.name for s in SHAPES])
def test_rendered_app_spec_fits_digitaloceans_schema(shape: Shape, tmp_path):
    tool("APP_SPEC_VALIDATOR")
    assert spec_errors(offline_spec(shape_settings(shape)), tmp_path) == ""


# --- the checks can fail ----------------------------------------------------------------------------


def test_the_provider_check_catches_what_mocks_accept(prod, tmp_path):
    stack = StackEdit(prod)
    main = stack.component("n8n-main")
    main["instanceSize"] = main.pop("instanceSizeSlug")  # the API's spelling is not the SDK's
    stack.props("n8n-postgres-cluster").update(nodeCount="two")
    problems = provider_problems(stack.as_run(), tmp_path)
    assert set(problems) == {"n8n-app", "n8n-postgres-cluster"}
    assert any("instanceSize: not a property" in p for p in problems["n8n-app"])
    assert any("nodeCount: expected integer" in p for p in problems["n8n-postgres-cluster"])


def test_the_app_spec_check_catches_a_misspelt_key(tmp_path):
    spec = offline_spec(load_settings(stack_config("prod"), "prod"))
    spec["services"][0]["instance_size"] = spec["services"][0].pop("instance_size_slug")
    assert "instance_size" in spec_errors(spec, tmp_path)
