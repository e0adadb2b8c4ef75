"""The settings reference, generated from the settings model so that it cannot drift from it:

    venv/bin/python -m settings.docs      # rewrites docs/settings.md and docs/stack-file.schema.json

`docs/settings.md` lists every key of `Pulumi.<stack>.yaml` with its type, default, description and whether it
holds a secret; `docs/stack-file.schema.json` is a JSON Schema of the whole stack file for editor completion
and checking. Both come from one walk over the model's own JSON Schema (descriptions, bounds and enums are
the fields' own), so a setting added to settings/model.py needs only this command; tests/test_docs.py fails
while either file is stale.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from platform_model import catalog

from .model import CREDENTIAL_PATHS, NAMESPACE, PROVIDER_SECRET_KEYS, SECRET_KEYS, Settings

COMMAND = "venv/bin/python -m settings.docs"
DOCS = Path(__file__).resolve().parent.parent / "docs"
SETTINGS_MD = DOCS / "settings.md"
SCHEMA_JSON = DOCS / "stack-file.schema.json"

# How the Pulumi CLI writes an encrypted value into a stack file (`pulumi config set --secret`).
ENCRYPTED = {"type": "object", "properties": {"secure": {"type": "string"}}, "required": ["secure"],
             "additionalProperties": False,
             "description": "Encrypted by `pulumi config set --secret`; never written in plain text."}


# --- the model's schema, as a stack file holds it ------------------------------------------------------


def _inline(node: Any, defs: dict) -> Any:
    """The model's schema with every `$ref` replaced by its definition, and without pydantic's titles."""
    if isinstance(node, list):
        return [_inline(n, defs) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[1]]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return {k: _inline(v, defs) for k, v in node.items() if k not in ("title", "$defs")}


def _pass_defaults_down(node: dict) -> dict:
    """A section's default decides its keys' defaults (valkey's maintenance hour is 04:00, not 03:00)."""
    default, props = node.get("default"), node.get("properties")
    if isinstance(default, dict) and props:
        for key, value in default.items():
            if key in props:
                props[key]["default"] = value
    for child in (props or {}).values():
        _pass_defaults_down(child)
    return node


def _encrypted_form(path: tuple[str, ...], node: dict) -> dict:
    """Where the settings take secrets, the value as the stack file must hold it: encrypted, always for a
    secret (a map of secrets entry by entry, or whole), optionally for a credential."""
    if len(path) == 1 and path[0] in SECRET_KEYS:
        if node.get("type") == "object":
            return {**_described(node), "anyOf": [ENCRYPTED, {"type": "object", "additionalProperties": ENCRYPTED}]}
        return {**_described(node), **_undescribed(ENCRYPTED)}
    if _is_credential(path):
        return {**_described(node), "anyOf": [_undescribed(node), ENCRYPTED]}
    return node


def _is_credential(path: tuple[str, ...]) -> bool:
    """Whether `path` is one of the credential settings (`*` in a pattern stands for any list entry)."""
    return any(len(pattern) == len(path) and all(q in ("*", part) for q, part in zip(pattern, path, strict=True))
               for pattern in CREDENTIAL_PATHS)


def _described(node: dict) -> dict:
    return {k: node[k] for k in ("description", "default") if k in node}


def _undescribed(node: dict) -> dict:
    return {k: v for k, v in node.items() if k != "description"}


def _with_secrets(node: dict, path: tuple[str, ...] = ()) -> dict:
    return _encrypted_form(path, _descend(node, path))


def _descend(node: dict, path: tuple[str, ...]) -> dict:
    node = dict(node)
    if "properties" in node:
        node["properties"] = {k: _with_secrets(v, (*path, k)) for k, v in node["properties"].items()}
    if isinstance(node.get("items"), dict):
        node["items"] = _with_secrets(node["items"], (*path, "*"))
    if "anyOf" in node:
        node["anyOf"] = [_descend(option, path) for option in node["anyOf"]]
    return node


def settings_schema() -> dict:
    """Every setting (camelCase keys, below the namespace) as the stack file holds it."""
    schema = Settings.model_json_schema(by_alias=True)
    return _with_secrets(_pass_defaults_down(_inline(schema, schema.get("$defs", {}))))


def stack_file_schema() -> dict:
    settings = settings_schema()
    config = {f"{NAMESPACE}:{key}": value for key, value in settings["properties"].items()}
    config |= {f"digitalocean:{key}": ENCRYPTED if f"digitalocean:{key}" in PROVIDER_SECRET_KEYS else {}
               for key in catalog.DIGITALOCEAN_PROVIDER_CONFIG}
    others = [ns for ns in catalog.PROVIDER_NAMESPACES if ns != "digitalocean"]
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": f"Pulumi.<stack>.yaml of {NAMESPACE}",
        "description": f"Generated by `{COMMAND}` from settings/model.py.",
        "type": "object",
        "properties": {key: ({"type": "object", "properties": config,
                              "patternProperties": {f"^({'|'.join(others)}):": {}},
                              "additionalProperties": False} if key == "config" else {})
                       for key in catalog.STACK_FILE_KEYS},
        "additionalProperties": False,
    }


# --- the Markdown reference ----------------------------------------------------------------------------


def _without_null(node: dict) -> dict:
    options = [o for o in node.get("anyOf", []) if o.get("type") != "null"]
    if len(options) != 1 or "anyOf" not in node:
        return node
    return {**options[0], **{k: v for k, v in node.items() if k != "anyOf"}}


def _kind(node: dict) -> str:
    node = _without_null(node)
    if "anyOf" in node:
        return " or ".join(_kind(o) for o in node["anyOf"])
    if _is_encrypted(node):
        return "encrypted"
    if "enum" in node:
        return "one of " + ", ".join(f"`{v}`" for v in dict.fromkeys(str(v) for v in node["enum"]))
    bounds = f" {node['minimum']:,}–{node['maximum']:,}" if "minimum" in node else ""
    kind: str = node.get("type", "")
    if kind == "array":
        return f"list of {_kind(node['items'])}"
    if kind == "object" and isinstance(node.get("additionalProperties"), dict):
        return f"map of {_kind(node['additionalProperties'])}"
    if kind == "object":
        return "{" + ", ".join(node.get("properties", {})) + "}"
    return {"integer": "whole number", "number": "number", "boolean": "true or false",
            "string": "e-mail address" if node.get("format") == "email" else "text"}[kind] + bounds


def _default(node: dict) -> str:
    if "default" not in node:
        return "required"
    if node["default"] is None:
        return "unset"
    value = node["default"]
    return f"`{json.dumps(value) if not isinstance(value, str) else value}`"


def _is_encrypted(node: dict) -> bool:
    return node.get("required") == ["secure"]


def _may_be_encrypted(node: dict) -> bool:
    return _is_encrypted(node) or any(_is_encrypted(option) for option in node.get("anyOf", []))


def _secrecy(path: tuple[str, ...], node: dict) -> str:
    if len(path) == 1 and path[0] in SECRET_KEYS:
        return "secret"
    return "credential" if _may_be_encrypted(node) else ""


def _rows(node: dict, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for key, child in node["properties"].items():
        here = (*path, key)
        inner = _without_null(child)
        section = _is_section(child)
        if not section or inner is not child:
            yield (f"`{'.'.join(here)}`", _kind(child) if not section else "object, optional", _default(child),
                   _secrecy(here, child), child["description"])
        if section:
            yield from _rows(inner, here)
        elif _is_section(inner.get("items", {})):
            yield from _rows(inner["items"], (*here[:-1], here[-1] + "[]"))


def _is_section(node: dict) -> bool:
    """A group of settings (n8n, main.autoscaling), as opposed to one setting's value."""
    inner = _without_null(node)
    return inner.get("type") == "object" and "properties" in inner and not _may_be_encrypted(inner)


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    lines = ["| Key | Type | Default | Secret | Description |", "| --- | --- | --- | --- | --- |"]
    return lines + ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]


def _sections(schema: dict) -> Iterator[str]:
    props = schema["properties"]
    top = {k: v for k, v in props.items() if not _is_section(v)}
    yield "## The stack"
    yield ""
    yield from _table(list(_rows({"properties": top})))
    for key, node in props.items():
        if key in top:
            continue
        yield ""
        yield f"## {key}"
        yield ""
        yield node["description"]
        yield ""
        yield from _table(list(_rows(_without_null(node), (key,))))


INTRO = f"""# Settings

<!-- Generated by `{COMMAND}` from settings/model.py; edit the descriptions there, not here. -->

Every key below lives under the `{NAMESPACE}` namespace of `Pulumi.<stack>.yaml` (`{NAMESPACE}:workers:` with
`pairs: 3` below it is the key `workers.pairs`). Set one with `pulumi config set --path workers.pairs 3`; a
key you leave out takes the default shown here. Types are strict: `pairs: "3"` is text, not a number.
Secrets are stored encrypted with `pulumi config set --secret` (the tools refuse them in plain text), and a
credential may be. How the settings are read and checked, and how to get completion and checking of these
keys in your editor from `docs/stack-file.schema.json`, is in [stack files](stack-files.md).
"""


def settings_markdown() -> str:
    return INTRO + "\n" + "\n".join(_sections(settings_schema())) + "\n"


def rendered() -> dict[Path, str]:
    """Both generated files as they should read, by path."""
    return {SETTINGS_MD: settings_markdown(), SCHEMA_JSON: json.dumps(stack_file_schema(), indent=2) + "\n"}


def main(argv: list[str] | None = None) -> int:
    for path, text in rendered().items():
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        print(f"wrote {path.relative_to(DOCS.parent)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
