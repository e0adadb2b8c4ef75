"""Where a stack's settings come from: the Pulumi runtime (under `pulumi up`/`preview` and the mocks),
or a `Pulumi.<stack>.yaml` file read directly by the offline tools.

Every offline command reads stack files through `load_stack` (or `read_stack_file`/`settings_from_file`,
which share it): any content becomes either settings or one `SettingsError` listing every problem —
YAML syntax (by line, never echoing the line), structure, config keys and namespaces, encrypted values
that are not secrets, secrets in plain text, and every invalid setting — with the value as written and
redacted when it is or holds a secret.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import hashlib
import json
import re
import string
import typing
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from platform_model import catalog
from settings.model import NAMESPACE, Problem, Settings, SettingsError, Written, is_secret_path, parse_settings

from .cross_checks import cross_check_problems
from .yaml_reader import MAX_BYTES, Document, YamlProblem, parse

PROJECT_DIR = Path(__file__).resolve().parent.parent
# Pulumi stack, project and organisation names (`pulumi stack init` refuses anything else).
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")
_STAND_IN_ALPHABET = string.ascii_letters + string.digits
# Encrypted values that must keep a shape offline: the stand-in for a Slack URL is a Slack URL.
_STAND_IN_SHAPES = {("alerts", "slackWebhooks", "*", "url"): "https://hooks.slack.com/services/{}",
                     ("dockerHubCredentials",): "n8nplatform:dckr_pat_{}"}
FILE = "stack file"  # the key of problems with the file as a whole


@dataclass
class StackFile:
    stack: str  # the stack's name, as the program sees it (`prod` for `acme/n8n-platform/prod`)
    # Every config key -> value as read from YAML; encrypted secrets replaced by stand-ins (or left out,
    # for a whole encrypted map of secrets: the program then generates one per broker).
    config: dict[str, Any]
    # Settings held encrypted (`runnerAuthTokens.n8n-worker-1`); offline tools cannot read them.
    encrypted: list[str] = field(default_factory=list)
    path: Path | None = None
    # Config keys holding an encrypted value: what the engine would flag as secret for the program.
    secret_keys: list[str] = field(default_factory=list)
    encrypted_paths: list[str] = field(default_factory=list)  # full config key [. entry...]
    notes: list[str] = field(default_factory=list)  # what offline tools cannot check, for stderr
    written: dict[str, str] = field(default_factory=dict)  # setting path -> value as typed
    source: str = ""  # how messages name the file


# --- stack names and files ---------------------------------------------------------------------------


def stack_name(stack: str) -> str:
    """The stack's own name from `stack`, `org/stack` or `org/project/stack` (the Pulumi CLI's forms: all
    three read `Pulumi.<stack>.yaml`)."""
    parts = stack.split("/")
    if not 1 <= len(parts) <= 3 or not all(_NAME.fullmatch(p) for p in parts):
        raise SettingsError([Problem("stack", "is not a stack name: use <stack>, <org>/<stack> or "
                                     "<org>/<project>/<stack>, each of letters, digits, '-', '_' and '.'",
                                     Written(repr(stack)[1:-1]))], "the command line", in_file=False)
    if len(parts) == 3 and parts[1] != NAMESPACE:
        raise SettingsError([Problem("stack", f"names the project {parts[1]}; this project is {NAMESPACE}",
                                     Written(stack))], "the command line", in_file=False)
    return parts[-1]


def stack_file(stack: str) -> Path:
    """`Pulumi.<stack>.yaml` in the working directory, as the Pulumi CLI reads it, else in this project."""
    name = f"Pulumi.{stack_name(stack)}.yaml"
    here = Path.cwd() / name
    return here if here.exists() or here.is_symlink() else PROJECT_DIR / name


def _known_stacks() -> str:
    return ", ".join(sorted(p.name[len("Pulumi."):-len(".yaml")] for p in PROJECT_DIR.glob("Pulumi.*.yaml")))


def _read_text(path: Path, stack: str) -> tuple[str | None, list[Problem]]:
    """The file's text (UTF-8, BOM stripped as the CLI strips it), or why it cannot be had."""
    if path.is_symlink() and not path.exists():
        return None, [Problem(FILE, f"{path} is a symbolic link to a file that does not exist")]
    if not path.exists():
        return None, [Problem("stack", f"has no {path.name} here or in {PROJECT_DIR}; stacks in this project: "
                               f"{_known_stacks()}", Written(stack))]
    if not path.is_file():
        kind = "a directory" if path.is_dir() else "not a regular file"
        return None, [Problem(FILE, f"{path} is {kind}; a stack file is a YAML file")]
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except OSError as err:
        return None, [Problem(FILE, f"cannot read {path}: {err.strerror}")]
    if len(data) > MAX_BYTES:
        return None, [Problem(FILE, f"is larger than {MAX_BYTES // 1024} KiB; a stack file is a few KiB")]
    try:
        return data.removeprefix(b"\xef\xbb\xbf").decode("utf-8"), []
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        return None, [Problem(FILE, f"is not UTF-8 text (byte {data[err.start]:#04x} on line {line}); the Pulumi "
                                    "CLI reads stack files as UTF-8: save it as UTF-8")]


# --- the document -------------------------------------------------------------------------------------


def _setting_path(path: tuple[str, ...]) -> tuple[str, ...] | None:
    """A document path below `config: n8n-platform:<key>` as setting keys (`workers`, `pairs`), else None."""
    if len(path) < 2 or path[0] != "config":
        return None
    full = _full_key(path[1])
    if full is None or not full.startswith(NAMESPACE + ":"):
        return None
    return (full.removeprefix(NAMESPACE + ":"), *path[2:])


def _display(path: tuple[str, ...]) -> str:
    """How messages name a place in the document."""
    setting = _setting_path(path)
    if setting is not None:
        return ".".join(setting)
    if path[:1] == ("config",) and len(path) > 1:
        return ".".join(path[1:])
    return ".".join(path) or FILE


def _yaml_problem(p: YamlProblem) -> Problem:
    where = f" (line {p.line})" if p.line and p.path and "line" not in p.message else ""
    return Problem(_display(p.path) if p.path else FILE, p.message + where)


def _full_key(key: str) -> str | None:
    """A config key as the CLI namespaces it: `workers` is the project's (`n8n-platform:workers`), and the
    legacy `ns:config:name` is `ns:name` (pulumi/pulumi `workspace.stackConfigNamespacedWithProject`,
    `config.ParseKey`); None when it is no config key at all."""
    parts = key.split(":")
    if len(parts) == 1:
        return f"{NAMESPACE}:{key}"
    if len(parts) == 3 and parts[1] == "config":
        return f"{parts[0]}:{parts[2]}"
    return key if len(parts) == 2 else None


def _structure_problems(data: Any) -> list[Problem]:
    if not isinstance(data, dict):
        return [Problem(FILE, f"holds a {_kind(data)}; a stack file is a mapping with the settings under `config:`")]
    problems = []
    for key in data:
        if key in catalog.STACK_FILE_KEYS:
            continue
        close = difflib.get_close_matches(key, catalog.STACK_FILE_KEYS, n=1)
        if ":" in key or close == ["config"] or not close:
            fix = "did you mean config? " if close == ["config"] else ""
            problems.append(Problem(key, f"is outside `config:`; {fix}settings go under `config:` (the Pulumi CLI "
                                         "ignores anything else)"))
        else:
            problems.append(Problem(key, f"is not a stack file key; did you mean {close[0]}?"))
    if data.get("config") is not None and not isinstance(data["config"], dict):
        problems.append(Problem("config", f"holds a {_kind(data['config'])}; it must be a mapping of settings"))
    return problems


def _kind(value: Any) -> str:
    return {list: "list", str: "string", bool: "boolean", int: "number", float: "number"}.get(type(value), "value")


def _key_problems(key: str, value: Any) -> list[Problem]:
    """Problems with one `config:` entry's key (its form and namespace) and its top-level value."""
    full = _full_key(key)
    if full is None:
        return [Problem(key, "is not a config key: keys are <namespace>:<name>; nest settings instead of adding "
                             "colons (n8n-platform:workers: {pairs: 3})")]
    namespace, name = full.split(":")
    if not name:
        return [Problem(key, f"has no setting name after {namespace}:")]
    problems = _namespace_problems(key, namespace, name)
    if value is None:
        problems.append(Problem(key, "has no value (the Pulumi CLI hands the program an empty string): give it "
                                     "one or delete the line"))
    return problems


def _namespace_problems(key: str, namespace: str, name: str) -> list[Problem]:
    if namespace == "digitalocean" and name not in catalog.DIGITALOCEAN_PROVIDER_CONFIG:
        close = difflib.get_close_matches(name, catalog.DIGITALOCEAN_PROVIDER_CONFIG, n=1)
        hint = f"did you mean digitalocean:{close[0]}? " if close else ""
        return [Problem(key, f"is not a setting of the digitalocean provider; {hint}its settings: "
                             f"{', '.join(catalog.DIGITALOCEAN_PROVIDER_CONFIG)}")]
    if namespace == NAMESPACE or namespace in catalog.PROVIDER_NAMESPACES:
        return []
    close = difflib.get_close_matches(namespace, (NAMESPACE, *catalog.PROVIDER_NAMESPACES), n=1, cutoff=0.7)
    hint = f"did you mean {close[0]}:{name}? " if close else ""
    return [Problem(key, f"is in the namespace {namespace}, which the program never reads; {hint}this project's "
                         f"settings are {NAMESPACE}:<key>, its providers' "
                         f"{', '.join(n + ':<key>' for n in catalog.PROVIDER_NAMESPACES)}")]


def _duplicate_problems(config: Mapping[str, Any], lines: Mapping[tuple, int]) -> list[Problem]:
    """`workers` and `n8n-platform:workers` are one key to the CLI, which keeps either."""
    seen: dict[str, str] = {}
    problems = []
    for key in config:
        full = _full_key(key)
        if full is None:
            continue
        if full in seen:
            where = (lines.get(("config", seen[full])), lines.get(("config", key)))
            problems.append(Problem(key, f"is the same setting as {seen[full]} (lines {where[0]} and {where[1]}); "
                                         "the Pulumi CLI would keep either: keep one"))
        seen.setdefault(full, key)
    return problems


# --- encrypted values ------------------------------------------------------------------------------------


def _is_encrypted(value: Any) -> bool:
    """What `pulumi config set --secret` writes: a mapping with only `secure: <ciphertext>`."""
    return isinstance(value, dict) and list(value) == ["secure"] and isinstance(value["secure"], str)


def _stand_in(seed: str, setting: tuple[str, ...]) -> str:
    digest = hashlib.sha256(seed.encode()).digest() + hashlib.sha256(seed.encode() + b"/2").digest()
    token = "".join(_STAND_IN_ALPHABET[b % len(_STAND_IN_ALPHABET)] for b in digest[:48])
    shapes = [shape for pattern, shape in _STAND_IN_SHAPES.items() if len(pattern) == len(setting)
              and all(p == "*" or p == q for p, q in zip(pattern, setting, strict=True))]
    return (shapes or ["{}"])[0].format(token)


@dataclass
class _Unsealed:
    """What `_unseal` found: where the encrypted values are, and the problems with them."""

    stack: str
    shown: list[str] = field(default_factory=list)  # as users name them: runnerAuthTokens.n8n-worker-1
    paths: list[str] = field(default_factory=list)  # full config key [. entry...], for load_settings
    problems: list[Problem] = field(default_factory=list)


def _unseal(key: str, value: Any, found: _Unsealed, below: tuple[str, ...] = ()) -> Any:
    """`value` with every encrypted value in it replaced by a stand-in; None where one must be left out."""
    if isinstance(value, dict) and "secure" in value and not _is_encrypted(value):
        found.problems.append(Problem(_display(("config", key, *below)),
                                      "has a `secure:` entry unlike what `pulumi config set --secret` writes "
                                      "(a mapping with only `secure: <ciphertext>`)"))
        return None
    if _is_encrypted(value):
        return _stand_in_for(key, below, found)
    if isinstance(value, dict):
        unsealed = {k: _unseal(key, v, found, below + (k,)) for k, v in value.items()}
        return {k: v for k, v in unsealed.items() if v is not None or value[k] is None}
    if isinstance(value, list):
        return [_unseal(key, v, found, below + (str(i),)) for i, v in enumerate(value)]
    return value


def _stand_in_for(key: str, below: tuple[str, ...], found: _Unsealed) -> str | None:
    full = _full_key(key)
    if full is None:
        return None  # not a config key at all: reported as such
    namespace, name = full.split(":")
    shown = ".".join((name if namespace == NAMESPACE else full, *below))
    if namespace != NAMESPACE:
        found.shown.append(shown)  # a provider's or the engine's setting: the program does not read it
        found.paths.append(".".join((full, *below)))
        return "<encrypted>"
    setting = (name, *below)
    if not is_secret_path(setting):
        found.problems.append(Problem(shown, "is encrypted, but it is not a secret: the offline tools cannot read "
                                             "it and the gate cannot check it. Store it in plain text: "
                                             f"`pulumi config set --path {shown} <value> -s {found.stack}`"))
        return None
    found.shown.append(shown)
    found.paths.append(".".join((full, *below)))
    if not below and _is_map_of_secrets(name):
        return None  # a whole map encrypted: its entries are unknown, the program generates one per broker
    return _stand_in(f"{found.stack}/{shown}", setting)


def _is_map_of_secrets(key: str) -> bool:
    field_ = next((f for n, f in Settings.model_fields.items() if (f.alias or n) == key), None)
    return field_ is not None and typing.get_origin(field_.annotation) is dict


# --- loading -----------------------------------------------------------------------------------------------


def _document(path: Path, stack: str) -> tuple[Document, list[Problem]]:
    text, problems = _read_text(path, stack)
    if text is None:
        return Document(), problems
    doc = parse(text)
    return doc, [_yaml_problem(p) for p in doc.problems]


def _written(doc: Document) -> dict[str, str]:
    out = {}
    for path, text in doc.written.items():
        setting = _setting_path(path)
        if setting is not None and not is_secret_path(setting):
            out[".".join(setting)] = text
    return out


def _notes(sf: StackFile, data: Mapping[str, Any]) -> list[str]:
    notes = []
    if sf.encrypted:
        notes.append(f"{', '.join(sf.encrypted)} {'is' if len(sf.encrypted) == 1 else 'are'} encrypted in "
                     f"{sf.source} and cannot be read offline; offline checks use stand-ins")
    if data.get("environment") is not None:
        notes.append(f"{sf.source} imports Pulumi ESC environments (`environment:`); offline tools cannot read "
                     "what they provide")
    plain = _plain_slack_urls(sf)
    if plain:
        notes.append(f"the Slack webhook URL(s) of alerts.slackWebhooks {plain} are in plain text in {sf.source}: "
                     "whoever reads the repository can post to those channels. Consider `pulumi config set --path "
                     f"--secret 'alerts.slackWebhooks[{plain[0]}].url' -s {sf.stack}`")
    return notes


def _plain_slack_urls(sf: StackFile) -> list[int]:
    """Which alerts.slackWebhooks entries hold their URL in plain text (a credential we accept with a note)."""
    alerts = sf.config.get(f"{NAMESPACE}:alerts")
    hooks = alerts.get("slackWebhooks") if isinstance(alerts, dict) else None
    return [i for i, hook in enumerate(hooks if isinstance(hooks, list) else [])
            if isinstance(hook, dict) and "url" in hook and f"alerts.slackWebhooks.{i}.url" not in sf.encrypted]


def _read(stack: str, path: Path | None) -> tuple[StackFile, list[Problem]]:
    name = stack_name(stack)
    path = path or stack_file(stack)
    source = path.name if name == stack else f"{path.name} (stack {stack})"
    doc, problems = _document(path, stack)
    sf = StackFile(name, {}, path=path, source=source)
    if problems or doc.data is None:
        return sf, problems
    problems += _structure_problems(doc.data)
    config = doc.data.get("config") if isinstance(doc.data, dict) else None
    if not isinstance(config, dict):
        return sf, problems
    found = _Unsealed(name)
    for key, value in config.items():
        problems += _key_problems(key, value)
        unsealed, full_key = _unseal(key, value, found), _full_key(key)
        if unsealed is not None and full_key is not None:
            sf.config[full_key] = unsealed
    problems += _duplicate_problems(config, doc.lines) + found.problems
    sf.encrypted, sf.encrypted_paths, sf.written = found.shown, found.paths, _written(doc)
    sf.secret_keys = sorted({p.split(".")[0] for p in found.paths})
    sf.notes = _notes(sf, doc.data)
    return sf, problems


def _as_written(problems: list[Problem], written: Mapping[str, str]) -> list[Problem]:
    return [dataclasses.replace(p, value=Written(written[p.key]))
            if p.value is not None and not p.secret and p.key in written else p for p in problems]


def stack_source(stack: str) -> str:
    """How messages name a stack's settings when they come from no file of their own."""
    return f"Pulumi.{stack}.yaml"


def load_settings(config: Mapping[str, Any], stack: str, source: str | None = None,
                  encrypted: Collection[str] | None = None) -> Settings:
    """Settings from a stack's config mapping, both phases: each value against the model, then the
    settings against each other. Raises SettingsError listing every problem (settings/model.py's
    `parse_settings` says what `config` and `encrypted` hold)."""
    source = source or stack_source(stack)
    settings, problems = parse_settings(config, stack, source, encrypted)
    problems += cross_check_problems(settings)
    if problems:
        raise SettingsError(problems, source)
    return settings


def load_stack(stack: str, path: Path | None = None) -> tuple[StackFile, Settings]:
    """Read `Pulumi.<stack>.yaml` and validate its settings: both, or one SettingsError with every problem."""
    sf, problems = _read(stack, path)
    settings = None
    try:
        settings = load_settings(config_for_engine(sf.config), sf.stack, sf.source, encrypted=sf.encrypted_paths)
    except SettingsError as err:
        problems += _as_written(err.problems, sf.written)
    if problems or settings is None:
        raise SettingsError(problems, sf.source, in_file=sf.path is not None and sf.path.exists())
    return sf, settings


def read_stack_file(stack: str, path: Path | None = None) -> StackFile:
    return load_stack(stack, path)[0]


def settings_from_file(stack: str, path: Path | None = None) -> Settings:
    return load_stack(stack, path)[1]


def merged(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `extra` laid over it, nested mappings merged key by key; `base` is left as it was. How a
    setting's block (`workers: {pairs: 5}`) is changed without losing the block's other keys."""
    out = copy.deepcopy(dict(base))
    for k, v in extra.items():
        out[k] = merged(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) else v
    return out


def config_for_engine(config: Mapping[str, Any]) -> dict[str, str]:
    """What the engine hands a program: every value as text, objects and lists as JSON text (pulumi/pulumi
    `config.object.MarshalString`)."""
    out = {}
    for key, value in config.items():
        if value is None:
            continue
        out[key] = value if isinstance(value, str) else json.dumps(value)
    return out


# --- under the Pulumi engine -----------------------------------------------------------------------------


def pulumi_config() -> dict[str, Any]:
    """Every config value the Pulumi engine handed this program (or the mocks set)."""
    from pulumi.runtime import config as runtime_config

    merged = dict(runtime_config.get_config_env())
    merged.update(runtime_config.CONFIG.get())
    return merged


def pulumi_secret_keys() -> set[str]:
    """The config keys the engine flags as secret: those stored encrypted (or holding an encrypted entry)."""
    from pulumi.runtime import config as runtime_config

    return set(runtime_config.get_config_secret_keys_env()) | {
        k for k in pulumi_config() if runtime_config.is_config_secret(k)}


def settings_from_pulumi() -> Settings:
    """Settings for the running stack; invalid settings, or a secret the stack holds in plain text, stop the
    program before any resource is registered, with the list of problems and no stack trace."""
    import pulumi

    stack = pulumi.get_stack()
    try:
        return load_settings(pulumi_config(), stack, encrypted=pulumi_secret_keys())
    except SettingsError as err:
        raise pulumi.RunError(str(err)) from None
