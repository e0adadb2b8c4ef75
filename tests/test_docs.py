"""The settings reference (docs/settings.md) and the stack-file schema (docs/stack-file.schema.json) are
generated from the settings model; these tests fail when either is stale and prove the schema agrees
with what the settings accept and refuse."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import jsonschema
import pytest
import yaml

from settings import docs
from settings.model import NAMESPACE, SECRET_KEYS, Settings, _nested_model
from shapes import SHAPES
from stackrun import stack_config

ROOT = Path(__file__).resolve().parent.parent


def test_generated_docs_are_current():
    for path, text in docs.rendered().items():
        assert path.exists() and path.read_text() == text, (
            f"{path.relative_to(ROOT)} is stale: regenerate it with `{docs.COMMAND}` and commit the result")


def _fields(model, prefix=""):
    """(key as docs/settings.md writes it, field) for every setting and group of settings."""
    for name, field in model.model_fields.items():
        key = prefix + (field.alias or name)
        yield key, field
        nested = _nested_model(field.annotation)
        if nested:
            yield from _fields(nested, key + ("[]." if typing.get_origin(field.annotation) is list else "."))


def test_every_setting_has_a_description_a_user_can_read():
    for key, field in _fields(Settings):
        assert field.description and field.description.endswith("."), f"{key} has no description sentence"


def schema_errors(config: dict) -> list[str]:
    validator = jsonschema.Draft7Validator(docs.stack_file_schema())
    return [e.message for e in validator.iter_errors({"config": config})]


def encrypted(config: dict) -> dict:
    """The config as the stack file holds it once every secret is set with `pulumi config set --secret`."""
    secure = {"secure": "v1:AAAAAAAAAAAAAAAA"}
    return {key: (dict.fromkeys(value, secure) if isinstance(value, dict) else secure)
            if key.removeprefix(f"{NAMESPACE}:") in SECRET_KEYS else value for key, value in config.items()}


@pytest.mark.parametrize("shape", SHAPES, ids=[s.name for s in SHAPES])
def test_schema_accepts_every_shape_of_stack_the_settings_accept(shape):
    assert schema_errors(encrypted(stack_config(shape.stack, shape.overrides))) == []


def test_schema_accepts_the_stack_files_as_an_editor_reads_them():
    validator = jsonschema.Draft7Validator(docs.stack_file_schema())
    for path in sorted(ROOT.glob("Pulumi.*.yaml")):
        assert [e.message for e in validator.iter_errors(yaml.safe_load(path.read_text()))] == [], path.name


def test_schema_accepts_encrypted_secrets_in_both_forms_the_cli_writes():
    secure = {"secure": "v1:AAAAAAAAAAAAAAAA"}
    assert schema_errors({"n8n-platform:encryptionKey": secure, "digitalocean:token": secure,
                          "n8n-platform:runnerAuthTokens": {"n8n-worker-1": secure},
                          "n8n-platform:alerts": {"slackWebhooks": [{"url": secure, "channel": "#ops"}]},
                          "n8n-platform:postgres": {"version": 17}}) == []
    assert schema_errors({"n8n-platform:runnerAuthTokens": secure}) == []


@pytest.mark.parametrize("config", [
    {"n8n-platform:wrokers": {"pairs": 2}},                      # misspelt setting
    {"n8n-platform:workers": {"pairs": 0}},                      # out of range
    {"n8n-platform:workers": {"pairs": "3"}},                    # text, not a number
    {"n8n-platform:main": {"size": "apps-d-1vcpu-3gb"}},        # no such size
    {"n8n-platform:encryptionKey": "a-key-in-plain-text"},       # a secret in plain text
    {"n8n-platform:runnerAuthTokens": {"n8n-worker-1": "plain"}},
    {"digitalocean:token": "dop_v1_plain"},
    {"digitalocean:tokn": {"secure": "v1:AAAA"}},                # no such provider setting
    {"n8n-platfrom:region": "ams3"},                             # misspelt namespace
    {"n8n-platform:valkey": {"maintenance": {"hour": "10:30"}}},
])
def test_schema_refuses_what_the_settings_refuse(config):
    assert schema_errors(config), config


def test_settings_reference_documents_every_setting():
    reference = docs.SETTINGS_MD.read_text()
    missing = [key for key, field in _fields(Settings)
               if not _nested_model(field.annotation) and f"| `{key}` |" not in reference]
    assert not missing, f"docs/settings.md does not document: {missing}"


def _anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_links_between_the_pages_lead_somewhere():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    broken = []
    for page in pages:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            headings = re.findall(r"^#+ (.+)$", linked.read_text(), re.M) if linked.is_file() else []
            if not linked.exists() or (anchor and anchor not in {_anchor(h) for h in headings}):
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert not broken, broken
