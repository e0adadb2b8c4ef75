"""Malformed input to every offline command: each case must exit 2, name the key (or argument) at fault
with its explanation, and print no secret — planted secret values are grepped for in stdout and stderr.

Most cases run in-process through each command's `main(argv)` from a working directory that holds the
stack file (the commands read `Pulumi.<stack>.yaml` there first, as the Pulumi CLI does); a few run as
real subprocesses. The case list is data: one row per malformed input.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from offline import cost, gate, render, size
from rehearsal import __main__ as rehearse_cli
from rehearsal import install, verify
from settings.model import Settings, _nested_model

ROOT = Path(__file__).resolve().parent.parent
STACK = "case"
DIRECTORY = object()  # a directory where the stack file should be
DANGLING = object()  # a symbolic link to nothing
PIPE = object()  # a named pipe: reading it would block

# Distinctive values planted where secrets go; none may appear in any output.
KEY = "0f6c1b9e2d7a4c3f8e5b6a1d9c2e7f4aPLANTEDKEY"
TOKEN = "Qm7Xz2Lp9Rt4Vw6Yb8Nc3Kd5Hf1Gj0TsPLANTEDTOKEN"
LICENSE = "PLANTED-LICENSE-9c1e-44a7-bd0f-3e6a2f8c1d55"
DO_TOKEN = "dop_v1_PLANTEDa8f3c2e9b7d6104f5a3c2b1e0d9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2"
SLACK = "https://hooks.slack.com/services/T000/B000/PLANTEDslackXYZ"
API_KEY = "n8n_api_PLANTED7f1e2d3c4b5a69788796a5b4c3d2e1f0"
PASSWORD = "PLANTEDpassw0rd-on-a-url"
SECRETS = (KEY, TOKEN, LICENSE, DO_TOKEN, SLACK, API_KEY, PASSWORD, "PLANTED")

COMMANDS: dict[str, Callable[[list[str]], int]] = {
    "gate": gate.main, "render": render.main, "cost": cost.main, "size": size.main,
    "rehearsal": rehearse_cli.main, "install": install.main, "verify": verify.main,
}
# How each command is pointed at the stack under test.
STACK_ARGV = {
    "gate": [STACK], "render": [STACK], "cost": [STACK], "rehearsal": [STACK], "install": [STACK],
    "size": ["--per-minute", "60", "--seconds", "1", "--stack", STACK],
}
ROTATION = tuple(STACK_ARGV)


@dataclass(frozen=True)
class Case:
    id: str
    cls: str  # the class: traceback, secret, silent, misleading, argument
    key: str  # what the message must name
    fragment: str  # and what it must say about it
    file: str | bytes | object | None = None  # the stack file's content
    argv: tuple = ()  # for argument cases: the command line ({dir} is the working directory)
    command: str | None = None  # default: rotate through the commands that read stack files


def config(settings: dict[str, Any], **others: Any) -> str:
    """A stack file with `settings` (setting -> value) under the project's namespace."""
    body = {f"n8n-platform:{k}": v for k, v in settings.items()} | others
    return yaml.safe_dump({"config": body}, sort_keys=False)


def nested(dotted: str, value: Any) -> dict:
    first, *rest = dotted.split(".")
    for part in reversed(rest):
        value = {part: value}
    return {first: value}


# --- class 1: files that used to end in a traceback ------------------------------------------------------

TRACEBACKS = [
    Case("syntax: mapping in a scalar", "traceback", "stack file", "line 2, column 25", "config:\n  n8n-platform:region: a: b\n"),
    Case("syntax: unterminated quote", "traceback", "stack file", "while scanning a quoted scalar from line 2",
         f'config:\n  n8n-platform:region: "ams3\n  n8n-platform:encryptionKey: {KEY}\n'),
    Case("syntax: tab indentation", "traceback", "stack file", "line 3, column 1",
         "config:\n  n8n-platform:workers:\n\tpairs: 2\n"),
    Case("syntax: bad indentation", "traceback", "stack file", "is not valid YAML at line 3",
         "config:\n    n8n-platform:region: ams3\n  n8n-platform:protect: true\n"),
    Case("syntax: unclosed flow mapping", "traceback", "stack file", "is not valid YAML",
         "config:\n  n8n-platform:workers: {pairs: 2\n"),
    Case("syntax: unclosed flow list", "traceback", "stack file", "is not valid YAML",
         "config:\n  n8n-platform:alerts: {emails: [a@example.com\n"),
    Case("syntax: character that cannot start a token", "traceback", "stack file", "cannot start any token",
         f"config:\n  n8n-platform:encryptionKey: @{KEY}\n"),
    Case("syntax: undefined alias", "traceback", "stack file", "found undefined alias",
         "config:\n  n8n-platform:workers: *missing\n"),
    Case("syntax: bad escape in a secret", "traceback", "stack file", "unknown escape character",
         f'config:\n  n8n-platform:encryptionKey: "\\q{KEY}"\n'),
    Case("syntax: directive in the middle", "traceback", "stack file", "is not valid YAML",
         "config:\n  n8n-platform:region: ams3\n%YAML 1.2\n"),
    Case("syntax: a secret on a line that breaks", "traceback", "stack file", "is not valid YAML",
         f"config:\n  n8n-platform:licenseKey: {LICENSE}: oops\n"),
    Case("control character", "traceback", "stack file", "control character",
         "config:\n  n8n-platform:region: am\x07s3\n"),
    Case("NUL byte", "traceback", "stack file", "control character", "config:\n  n8n-platform:region: \x00\n"),
    Case("two documents", "traceback", "stack file", "more than one YAML document",
         "config:\n  n8n-platform:region: ams3\n---\nconfig: {}\n"),
    Case("document is a list", "traceback", "stack file", "holds a list", "- config\n- n8n-platform:region\n"),
    Case("document is a string", "traceback", "stack file", "holds a string", "just some text\n"),
    Case("document is a number", "traceback", "stack file", "holds a number", "42\n"),
    Case("document is true", "traceback", "stack file", "holds a boolean", "true\n"),
    Case("config is a list", "traceback", "config", "holds a list", "config:\n  - n8n-platform:region: ams3\n"),
    Case("config is a string", "traceback", "config", "holds a string", "config: n8n-platform:region=ams3\n"),
    Case("config is a number", "traceback", "config", "holds a number", "config: 3\n"),
    Case("integer key in config", "traceback", "config", "has the key 1, which YAML reads as a value", "config:\n  1: ams3\n"),
    Case("boolean key in config", "traceback", "config", "has the key true", "config:\n  true: ams3\n"),
    Case("null key in config", "traceback", "config", "has the key ~", "config:\n  ~: ams3\n"),
    Case("float key in a setting", "traceback", "workers", "has the key 1.5",
         "config:\n  n8n-platform:workers:\n    1.5: 2\n"),
    Case("integer key at the top", "traceback", "stack file", "has the key 7", "7: config\n"),
    Case("list as a key", "traceback", "config", "list or mapping",
         "config:\n  ? [n8n-platform:region]\n  : ams3\n"),
    Case("mapping as a key", "traceback", "workers", "list or mapping",
         "config:\n  n8n-platform:workers:\n    ? {pairs: 2}\n    : 3\n"),
    Case("empty key", "traceback", "config", "has an empty key", 'config:\n  "": ams3\n'),
    Case("empty setting name", "traceback", "n8n-platform:", "has no setting name", 'config:\n  "n8n-platform:": ams3\n'),
    Case("not UTF-8 (Latin-1)", "traceback", "stack file", "is not UTF-8 text (byte 0xe9 on line 2)",
         "config:\n  n8n-platform:n8n: {timezone: Am\xe9rica/Bogota}\n".encode("latin-1")),
    Case("not UTF-8 (stray byte)", "traceback", "stack file", "is not UTF-8", b"config:\n  x: \xff\xfe\n"),
    Case("UTF-16", "traceback", "stack file", "is not UTF-8",
         "config:\n  n8n-platform:region: ams3\n".encode("utf-16")),
    Case("a directory", "traceback", "stack file", "is a directory", DIRECTORY),
    Case("a dangling symbolic link", "traceback", "stack file", "symbolic link to a file that does not exist", DANGLING),
    Case("a named pipe", "traceback", "stack file", "is not a regular file", PIPE),
    Case("deep block nesting", "traceback", "workers", "nested deeper than 32 levels",
         "config:\n  n8n-platform:workers:\n" + "".join("  " * (i + 2) + f"k{i}:\n" for i in range(40)) + "  " * 42 + "v\n"),
    Case("deep flow nesting", "traceback", "stack file", "nested far deeper",
         "config:\n  n8n-platform:workers: " + "[" * 5000 + "]" * 5000 + "\n"),
    Case("deep mapping nesting", "traceback", "stack file", "nested far deeper",
         "config:\n  n8n-platform:n8n: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n"),
    Case("alias bomb", "traceback", "alerts", "expands to more than 10000 values",
         "config:\n  n8n-platform:alerts:\n    a: &a [x, x, x, x, x, x, x, x, x, x]\n    b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
         "    c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n    d: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"),
    Case("recursive alias", "traceback", "workers", "alias that contains itself",
         "config:\n  n8n-platform:workers: &w [*w]\n"),
    Case("larger than 1 MiB", "traceback", "stack file", "larger than 1024 KiB",
         "config:\n  n8n-platform:region: ams3\n" + "#" * (1 << 20) + "\n"),
    Case("!!binary tag", "traceback", "domain", "YAML tag !!binary",
         "config:\n  n8n-platform:domain: !!binary bjhuLmV4YW1wbGUuY29t\n"),
    Case("!!python tag", "traceback", "region", "YAML tag !!python/object:os.system",
         "config:\n  n8n-platform:region: !!python/object:os.system {}\n"),
    Case("custom tag", "traceback", "region", "YAML tag !custom,", "config:\n  n8n-platform:region: !custom ams3\n"),
    Case("!!set", "traceback", "alerts.emails", "YAML tag !!set",
         "config:\n  n8n-platform:alerts:\n    emails: !!set {a@example.com}\n"),
    Case("!!int that is not", "traceback", "workers.pairs", "tagged !!int but is not one",
         "config:\n  n8n-platform:workers:\n    pairs: !!int two\n"),
    Case("merge key", "traceback", "workers", "merge key", "config:\n  n8n-platform:workers:\n    <<: {pairs: 2}\n"),
    Case(".nan", "traceback", "workers.pairs", "not a finite number", "config:\n  n8n-platform:workers:\n    pairs: .nan\n"),
    Case(".inf", "traceback", "cost.monthlyBudget", "not a finite number",
         "config:\n  n8n-platform:cost:\n    monthlyBudget: .inf\n"),
    Case("-.inf", "traceback", "cost.prices.app.apps-d-1vcpu-2gb", "not a finite number",
         "config:\n  n8n-platform:cost:\n    prices: {app: {apps-d-1vcpu-2gb: -.inf}}\n"),
    Case("malformed secure value", "traceback", "encryptionKey", "has a `secure:` entry",
         "config:\n  n8n-platform:encryptionKey:\n    secure: 12345\n"),
    Case("secure beside other keys", "traceback", "workers", "has a `secure:` entry",
         "config:\n  n8n-platform:workers:\n    secure: v1:abc\n    pairs: 2\n"),
]

# --- class 2: secrets that used to be printed -------------------------------------------------------------

SECRETS_PRINTED = [
    Case("snake_case encryption_key", "secret", "encryption_key", "did you mean encryptionKey",
         config({"encryption_key": KEY})),
    Case("snake_case encryption_key in plain text", "secret", "encryption_key", "delete encryption_key",
         config({"encryption_key": KEY})),
    Case("snake_case license_key", "secret", "license_key", "did you mean licenseKey", config({"license_key": LICENSE})),
    Case("snake_case runner_auth_tokens", "secret", "runner_auth_tokens", "did you mean runnerAuthTokens",
         config({"runner_auth_tokens": {"n8n-worker-1": TOKEN}})),
    Case("kebab-case encryption-key", "secret", "encryption-key", "is not a setting", config({"encryption-key": KEY})),
    # The engine hands a program top-level values as text: `true` is the 4-character string "true".
    Case("encryptionKey as a boolean", "secret", "encryptionKey", "has 4 characters; it needs at least 32",
         "config:\n  n8n-platform:encryptionKey: true\n"),
    Case("encryptionKey as an object", "secret", "encryptionKey", "must be a string",
         config({"encryptionKey": {"value": KEY}})),
    Case("encryptionKey inside n8n", "secret", "n8n.encryptionKey", "is not a setting",
         config({"n8n": {"encryptionKey": KEY}})),
    Case("runner token as a list", "secret", "runnerAuthTokens.n8n-worker-1", "must be a string",
         config({"runnerAuthTokens": {"n8n-worker-1": [TOKEN]}})),
    Case("runner tokens as a list", "secret", "runnerAuthTokens", "must be an object",
         config({"runnerAuthTokens": [TOKEN]})),
    Case("token for a broker that does not exist", "secret", "runnerAuthTokens.n8n-worker-9", "names no task broker",
         config({"runnerAuthTokens": {"n8n-worker-9": {"secure": "v1:abc"}}})),
    Case("slack URL that is not Slack's", "secret", "alerts.slackWebhooks.0.url", "Slack incoming-webhook URL",
         config({"alerts": {"slackWebhooks": [{"url": SLACK.replace("hooks.slack.com", "evil.example"),
                                               "channel": "#ops"}]}})),
    Case("slack webhooks as a mapping", "secret", "alerts.slackWebhooks", "must be a list",
         config({"alerts": {"slackWebhooks": {"url": SLACK, "channel": "#ops"}}})),
    Case("slack webhook with an unknown key", "secret", "alerts.slackWebhooks.0.uri", "did you mean url",
         config({"alerts": {"slackWebhooks": [{"uri": SLACK, "channel": "#ops"}]}})),
    Case("slack webhook without channel", "secret", "alerts.slackWebhooks.0.channel", "is required",
         config({"alerts": {"slackWebhooks": [{"url": SLACK}]}})),
    Case("secret in a misspelt namespace", "secret", "n8n-platfrom:encryptionKey", "did you mean n8n-platform:encryptionKey",
         f"config:\n  n8n-platfrom:encryptionKey: {KEY}\n"),
    Case("secret outside config", "secret", "n8n-platform:encryptionKey", "is outside `config:`",
         f"n8n-platform:encryptionKey: {KEY}\n"),
    Case("provider secret misspelt", "secret", "digitalocean:tokn", "did you mean digitalocean:token",
         f"config:\n  digitalocean:tokn: {DO_TOKEN}\n"),
    Case("duplicate secret key", "secret", "encryptionKey", "defined twice",
         f"config:\n  n8n-platform:encryptionKey: {KEY}\n  n8n-platform:encryptionKey: {KEY}x\n"),
]

# --- class 3: what used to be accepted silently -----------------------------------------------------------


def _number_type(annotation: Any) -> type | None:
    """int or float behind Optional[...] and Annotated[...], else None."""
    if annotation in (int, float):
        return annotation
    if typing.get_origin(annotation) in (typing.Annotated, typing.Union):
        return next(filter(None, map(_number_type, typing.get_args(annotation))), None)
    return None


def numeric_settings(model: type[BaseModel] = Settings, prefix: str = "") -> list[tuple[str, type]]:
    """Every whole-number and number setting of the model, as dotted config keys."""
    found = []
    for name, field in model.model_fields.items():
        key, inner = prefix + (field.alias or name), _nested_model(field.annotation)
        if inner is not None:
            found += numeric_settings(inner, key + ".")
        elif number := _number_type(field.annotation):
            found.append((key, number))
        elif typing.get_origin(field.annotation) is dict and (number := _number_type(typing.get_args(field.annotation)[1])):
            slug = "apps-d-1vcpu-2gb" if key.endswith(".app") else "db-s-2vcpu-4gb"  # cost.prices.<kind>.<slug>
            found.append((f"{key}.{slug}", number))
    return found


NUMERIC = numeric_settings()
WHOLE = [(k, t) for k, t in NUMERIC if t is int]
# Autoscaling and pools are only valid together with what they need; the type error comes first anyway.
SILENT = [Case(f"{key}: true", "silent", key, f"must be {'a whole number' if t is int else 'a number'} (got true)",
               config(nested(key, True))) for key, t in NUMERIC]
SILENT += [Case(f"{key}: 2.5", "silent", key, "must be a whole number (got 2.5)", config(nested(key, 2.5)))
           for key, _ in WHOLE]
SILENT += [Case(f"{key}: quoted", "silent", key, "must be a whole number (got \"3\")",
                config(nested(key, "3")).replace("'3'", '"3"')) for key, _ in WHOLE[:8]]

WEAK_KEYS = {
    "one repeated character": ("K" * 48, "is one character repeated"),
    "whitespace": ("correct horse battery staple correct horse battery", "contains whitespace"),
    "a line break": (KEY + "\\n", "contains whitespace"),
    "a repeated word": ("hellohellohellohello1234567890abcdefgh", "repeats itself"),
    "a repeated phrase": ("correcthorsebatterystaplecorrecthorse", "repeats itself"),
    "a run": ("abcdefghijklmnopqrstuvwxyz0123456789", "is mostly a run"),
    "low variety": ("ababababab" + "abababababbabababaab" + "abbaabbaab", "repeats itself"),
    "a placeholder": ("<REQUIRED>", "is a placeholder"),
    "changeme": ("changeme", "is a placeholder"),
    "a template word": ("my-n8n-secret-for-production-use-2024", "contains the word 'secret'"),
    "too short": ("9f8e7d6c5b4a", "it needs at least 32"),
}
SILENT += [Case(f"weak encryptionKey: {what}", "silent", "encryptionKey", why,
                f'config:\n  n8n-platform:encryptionKey: "{value}"\n') for what, (value, why) in WEAK_KEYS.items()]
SILENT += [Case(f"weak runner token: {what}", "silent", "runnerAuthTokens.n8n-worker-2", why,
                f'config:\n  n8n-platform:runnerAuthTokens:\n    n8n-worker-2: "{value}"\n')
           for what, (value, why) in list(WEAK_KEYS.items())[:6]]
SILENT += [
    Case("multi-main without licence", "silent", "n8n.multiMain", "needs an n8n license",
         config({"n8n": {"multiMain": True}, "main": {"instances": 2}})),
    Case("multi-main with an empty licence", "silent", "licenseKey", "is empty or a template placeholder",
         config({"n8n": {"multiMain": True}, "main": {"instances": 2}, "licenseKey": ""})),
    Case("multi-main with a placeholder licence", "silent", "licenseKey", "is empty or a template placeholder",
         config({"n8n": {"multiMain": True}, "main": {"instances": 2}, "licenseKey": "<REQUIRED>"})),
    Case("multi-main with a blank licence", "silent", "licenseKey", "is empty or a template placeholder",
         config({"n8n": {"multiMain": True}, "licenseKey": "   "})),
    Case("plain-text encryptionKey", "silent", "encryptionKey", "pulumi config set --secret encryptionKey -s case",
         config({"encryptionKey": KEY})),
    Case("plain-text licenseKey", "silent", "licenseKey", "pulumi config set --secret licenseKey -s case",
         config({"licenseKey": LICENSE})),
    Case("plain-text runner token", "silent", "runnerAuthTokens.n8n-worker-1",
         "pulumi config set --path --secret runnerAuthTokens.n8n-worker-1 -s case",
         config({"runnerAuthTokens": {"n8n-worker-1": TOKEN}})),
    Case("plain-text runner token beside an encrypted one", "silent", "runnerAuthTokens.n8n-worker-2",
         "treat the old value as leaked",
         config({"runnerAuthTokens": {"n8n-worker-1": {"secure": "v1:abc"}, "n8n-worker-2": TOKEN}})),
    Case("plain-text runner tokens as JSON text", "silent", "runnerAuthTokens.n8n-worker-1", "is in plain text",
         config({"runnerAuthTokens": json.dumps({"n8n-worker-1": TOKEN})})),
    Case("plain-text digitalocean:token", "silent", "digitalocean:token",
         "pulumi config set --secret digitalocean:token -s case", f"config:\n  digitalocean:token: {DO_TOKEN}\n"),
    Case("plain-text digitalocean:spacesSecretKey", "silent", "digitalocean:spacesSecretKey", "is in plain text",
         f"config:\n  digitalocean:spacesSecretKey: {DO_TOKEN}\n"),
    Case("misspelt namespace", "silent", "n8n-platfrom:workers", "did you mean n8n-platform:workers",
         "config:\n  n8n-platfrom:workers:\n    pairs: 3\n"),
    Case("namespace with a different case", "silent", "N8N-Platform:region", "which the program never reads",
         "config:\n  N8N-Platform:region: fra1\n"),
    Case("another project's namespace", "silent", "billing-app:region", "which the program never reads",
         "config:\n  billing-app:region: fra1\n"),
    Case("a provider the program does not use", "silent", "aws:region", "which the program never reads",
         "config:\n  aws:region: eu-west-1\n"),
    Case("unknown digitalocean setting", "silent", "digitalocean:region", "not a setting of the digitalocean provider",
         "config:\n  digitalocean:region: ams3\n"),
    Case("no namespace, unknown name", "silent", "workrs", "did you mean workers", "config:\n  workrs:\n    pairs: 3\n"),
    Case("duplicate top-level setting", "silent", "workers", "defined twice in one mapping (lines 2 and 4)",
         "config:\n  n8n-platform:workers:\n    pairs: 1\n  n8n-platform:workers:\n    pairs: 5\n"),
    Case("duplicate nested setting", "silent", "workers.pairs", "defined twice in one mapping (lines 3 and 4)",
         "config:\n  n8n-platform:workers:\n    pairs: 1\n    pairs: 5\n"),
    Case("duplicate config section", "silent", "config", "defined twice",
         "config:\n  n8n-platform:region: ams3\nconfig:\n  n8n-platform:region: fra1\n"),
    Case("one setting with and without namespace", "silent", "n8n-platform:region", "the same setting as region",
         "config:\n  region: ams3\n  n8n-platform:region: fra1\n"),
    Case("settings not under config", "silent", "n8n-platform:workers", "is outside `config:`",
         "n8n-platform:workers:\n  pairs: 3\n"),
    Case("settings under confg", "silent", "confg", "did you mean config?", "confg:\n  n8n-platform:workers:\n    pairs: 3\n"),
    Case("settings under Config", "silent", "Config", "did you mean config?", "Config:\n  n8n-platform:region: ams3\n"),
    Case("settings under settings", "silent", "settings", "settings go under `config:`",
         "settings:\n  n8n-platform:region: ams3\n"),
    Case("misspelt secretsprovider", "silent", "secretprovider", "did you mean secretsprovider",
         "secretprovider: passphrase\nconfig: {}\n"),
    Case("setting with no value", "silent", "n8n-platform:domain", "has no value", "config:\n  n8n-platform:domain:\n"),
    Case("protect: yes (YAML 1.2 text)", "silent", "protect", 'must be true or false (got yes)',
         "config:\n  n8n-platform:protect: yes\n"),
    Case("protect: off", "silent", "protect", "must be true or false (got off)", "config:\n  n8n-platform:protect: off\n"),
    Case("offload: on", "silent", "n8n.offloadManualExecutions", "must be true or false (got on)",
         "config:\n  n8n-platform:n8n:\n    offloadManualExecutions: on\n"),
    Case("multiMain: 1", "silent", "n8n.multiMain", "must be true or false (got 1)",
         "config:\n  n8n-platform:n8n:\n    multiMain: 1\n"),
    Case("colons in a key", "silent", "n8n-platform:workers:pairs", "is not a config key",
         "config:\n  n8n-platform:workers:pairs: 3\n"),
]

# --- class 4: wrong or misleading messages ---------------------------------------------------------------

MISLEADING = [
    Case("hour written as 3:00", "misleading", "postgres.maintenance.hour", "HH:00 (e.g. 03:00) (got 3:00)",
         "config:\n  n8n-platform:postgres:\n    maintenance:\n      hour: 3:00\n"),
    Case("hour 10:30 as written", "misleading", "postgres.maintenance.hour", "(got 10:30)",
         "config:\n  n8n-platform:postgres:\n    maintenance:\n      hour: 10:30\n"),
    Case("hex pairs as written", "misleading", "workers.pairs", "between 1 and 20 (got 0x30)",
         "config:\n  n8n-platform:workers:\n    pairs: 0x30\n"),
    Case("octal pairs as written", "misleading", "workers.pairs", "between 1 and 20 (got 030)",
         "config:\n  n8n-platform:workers:\n    pairs: 030\n"),
    Case("underscored number as written", "misleading", "workers.concurrency", "between 1 and 200 (got 1_000)",
         "config:\n  n8n-platform:workers:\n    concurrency: 1_000\n"),
    Case("exponent as written", "misleading", "runners.instances", "(got 1e3)",
         "config:\n  n8n-platform:runners:\n    instances: 1e3\n"),
    Case("version as a float", "misleading", "n8n.version", "(got 2.41)", "config:\n  n8n-platform:n8n:\n    version: 2.41\n"),
    Case("postgres version 12", "misleading", "postgres.version", "PostgreSQL versions", "config:\n  n8n-platform:postgres:\n    version: 12\n"),
    Case("encrypted non-secret", "misleading", "workers.pairs", "is encrypted, but it is not a secret",
         "config:\n  n8n-platform:workers:\n    pairs:\n      secure: v1:abc\n"),
    Case("encrypted region", "misleading", "region", "pulumi config set --path region <value>",
         "config:\n  n8n-platform:region:\n    secure: v1:abc\n"),
    Case("stack name with spaces", "misleading", "stack", "(got my stack)",
         None, ("my stack",), "render"),
    Case("stack path traversal", "misleading", "stack", "(got ../../etc/passwd)",
         None, ("../../etc/passwd",), "cost"),
    Case("org/project/stack of another project", "misleading", "stack", "this project is n8n-platform (got acme/billing/prod)",
         None, ("acme/billing/prod",), "gate"),
    Case("org/stack that does not exist", "misleading", "stack", "has no Pulumi.qa.yaml",
         None, ("acme/qa",), "render"),
    Case("too many slashes", "misleading", "stack", "(got a/b/c/d)", None, ("a/b/c/d",), "gate"),
    Case("empty stack name", "misleading", "stack", "is not a stack name", None, ("",), "cost"),
]

# --- arguments and policy-pack configs -----------------------------------------------------------------

POLICY_CONFIGS = {
    "level is a list": ('{"valkey-noeviction": ["advisory"]}', "valkey-noeviction", "must be an enforcement level"),
    "level is a number": ('{"valkey-noeviction": 1}', "valkey-noeviction", "must be an enforcement level"),
    "level is null": ('{"valkey-noeviction": null}', "valkey-noeviction", "must be an enforcement level"),
    "enforcementLevel is an object": ('{"valkey-noeviction": {"enforcementLevel": {"x": 1}}}', "valkey-noeviction",
                                      "is not an enforcement level"),
    "enforcementLevel is a list": ('{"all": {"enforcementLevel": ["mandatory"]}}', "all", "is not an enforcement level"),
    "empty level": ('{"valkey-noeviction": ""}', "valkey-noeviction", "'' is not an enforcement level"),
    "unknown property under all": ('{"all": {"enforcementLevel": "advisory", "allowedSources": []}}', "all",
                                   "takes only enforcementLevel; allowedSources"),
    "all with a typo": ('{"all": {"enforcmentLevel": "advisory"}}', "all", "takes only enforcementLevel"),
    "duplicate policy": ('{"valkey-noeviction": "advisory", "valkey-noeviction": "disabled"}', "valkey-noeviction",
                         "set twice"),
    "NaN": ('{"all": NaN}', "NaN", "is not a JSON number"),
    "not JSON": ("{all: advisory}", "not valid JSON", "line 1"),
    "deep nesting": ("[" * 100000 + "]" * 100000, "nested far too deep", "policy"),
    "ESC environments": ('{"environments": ["prod-policies"]}', "environments", "cannot read Pulumi ESC environments"),
}
POLICY_CONFIG_BYTES = {"not UTF-8": (b'{"all": "advis\xf6ry"}', "not UTF-8", "byte 0xf6")}
ARGUMENTS = [Case(f"policy-pack config: {what}", "argument", key, fragment, None,
                  ("prod", "--policy-pack-config", "{dir}/policy.json"), "gate")
             for what, (_, key, fragment) in {**POLICY_CONFIGS, **POLICY_CONFIG_BYTES}.items()]
ARGUMENTS += [
    Case("policy-pack config is a directory", "argument", "Is a directory", "cannot read the policy-pack config",
         None, ("prod", "--policy-pack-config", "{dir}"), "gate"),
    Case("policy-pack config is missing", "argument", "No such file", "cannot read the policy-pack config",
         None, ("prod", "--policy-pack-config", "{dir}/missing.json"), "gate"),
    Case("render -o to a missing directory", "argument", "--output", "cannot write",
         None, ("prod", "-o", "/nonexistent-dir/spec.yaml"), "render"),
    Case("render -o to a directory", "argument", "--output", "is a directory", None, ("prod", "-o", "{dir}"), "render"),
    Case("render -o to a read-only directory", "argument", "--output", "cannot write",
         None, ("prod", "-o", "/proc/spec.yaml"), "render"),
    Case("size: inf", "argument", "--per-minute", "must be a finite number", None, ("--per-minute", "inf", "--seconds", "2"), "size"),
    Case("size: nan", "argument", "--seconds", "must be a finite number", None, ("--per-minute", "60", "--seconds", "nan"), "size"),
    Case("size: 1e308", "argument", "--per-minute", "from 0 to 1,000,000", None,
         ("--per-minute", "1e308", "--seconds", "1e308"), "size"),
    Case("size: 1e999", "argument", "--seconds", "must be a finite number", None, ("--per-minute", "60", "--seconds", "1e999"), "size"),
    Case("size: negative", "argument", "--per-minute", "must be a finite number", None, ("--per-minute", "-5", "--seconds", "1"), "size"),
    Case("size: zero rate", "argument", "executions per minute", "must be more than 0", None, ("--per-minute", "0", "--seconds", "1"), "size"),
    Case("size: words", "argument", "--per-minute", "must be a number", None, ("--per-minute", "lots", "--seconds", "1"), "size"),
    Case("size: code share above 1", "argument", "--code-share", "from 0 to 1", None,
         ("--per-minute", "60", "--seconds", "1", "--code-share", "1.01"), "size"),
    Case("size: code share -inf", "argument", "--code-share", "finite", None,
         ("--per-minute", "60", "--seconds", "1", "--code-share=-inf"), "size"),
    Case("rehearsal: negative load", "argument", "--load", "from 0 to 100000", None, ("prod", "--load", "-1"), "rehearsal"),
    Case("rehearsal: no concurrency", "argument", "--concurrency", "from 1 to 256", None, ("prod", "--concurrency", "0"), "rehearsal"),
    Case("rehearsal: timeout nan", "argument", "--timeout", "must be a finite number", None, ("prod", "--timeout", "nan"), "rehearsal"),
    Case("rehearsal: timeout inf", "argument", "--timeout", "must be a finite number", None, ("prod", "--timeout", "inf"), "rehearsal"),
    Case("rehearsal: load as a float", "argument", "--load", "must be a whole number", None, ("prod", "--load", "2.5"), "rehearsal"),
    Case("rehearsal: unwritable report", "argument", "--report-json", "cannot write", None,
         ("prod", "--report-json", "/nonexistent-dir/r.json"), "rehearsal"),
    Case("rehearsal: offload maybe", "argument", "--offload", "invalid choice", None, ("prod", "--offload", "maybe"), "rehearsal"),
    Case("install: two stacks", "argument", "usage", "rehearsal.install [stack]", None, ("prod", "staging"), "install"),
    Case("verify: no scheme", "argument", "--url", "must be the app's URL", None,
         ("--url", "n8n.example.com", "--api-key", API_KEY), "verify"),
    Case("verify: credentials in the URL", "argument", "--url", "without credentials", None,
         ("--url", f"https://admin:{PASSWORD}@n8n.example.com", "--api-key", API_KEY), "verify"),
    Case("verify: port that is not a number", "argument", "--url", "must be the app's URL", None,
         ("--url", "https://n8n.example.com:https", "--api-key", API_KEY), "verify"),
    Case("verify: space in the URL", "argument", "--url", "must be the app's URL", None,
         ("--url", "https://n8n example.com", "--api-key", API_KEY), "verify"),
    Case("verify: no calls", "argument", "--calls", "from 1 to 1000", None,
         ("--url", "https://n8n.example.com", "--api-key", API_KEY, "--calls", "0"), "verify"),
    Case("verify: negative load", "argument", "--load", "from 0 to 100000", None,
         ("--url", "https://n8n.example.com", "--api-key", API_KEY, "--load", "-3"), "verify"),
    Case("verify: timeout inf", "argument", "--timeout", "must be a finite number", None,
         ("--url", "https://n8n.example.com", "--api-key", API_KEY, "--timeout", "inf"), "verify"),
    Case("verify: no concurrency", "argument", "--concurrency", "from 1 to 256", None,
         ("--url", "https://n8n.example.com", "--api-key", API_KEY, "--concurrency", "0"), "verify"),
    Case("verify: unwritable report", "argument", "--report-json", "cannot write", None,
         ("--url", "https://n8n.example.com", "--api-key", API_KEY, "--report-json", "/proc/x/r.json"), "verify"),
]

CASES = TRACEBACKS + SECRETS_PRINTED + SILENT + MISLEADING + ARGUMENTS


def _write(tmp_path: Path, case: Case) -> None:
    stack_file = tmp_path / f"Pulumi.{STACK}.yaml"
    if case.file is DIRECTORY:
        stack_file.mkdir()
    elif case.file is DANGLING:
        stack_file.symlink_to(tmp_path / "gone.yaml")
    elif case.file is PIPE:
        os.mkfifo(stack_file)
    elif isinstance(case.file, bytes):
        stack_file.write_bytes(case.file)
    elif isinstance(case.file, str):
        stack_file.write_text(case.file)
    what = case.id.removeprefix("policy-pack config: ")
    if what in POLICY_CONFIGS:
        (tmp_path / "policy.json").write_text(POLICY_CONFIGS[what][0])
    elif what in POLICY_CONFIG_BYTES:
        (tmp_path / "policy.json").write_bytes(POLICY_CONFIG_BYTES[what][0])


def run_case(case: Case, index: int, tmp_path: Path, capsys) -> tuple[object, str, str]:
    _write(tmp_path, case)
    command = case.command or ROTATION[index % len(ROTATION)]
    argv = [a.format(dir=tmp_path) for a in case.argv] if case.argv else STACK_ARGV[command]
    code: int | str | None
    try:
        code = COMMANDS[command](argv)
    except SystemExit as exit_:  # argparse's usage errors
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def test_there_are_at_least_150_malformed_inputs_over_every_class():
    assert len(CASES) >= 150
    assert len({c.id for c in CASES}) == len(CASES)
    assert {c.cls for c in CASES} == {"traceback", "secret", "silent", "misleading", "argument"}


@pytest.mark.parametrize("index,case", list(enumerate(CASES)), ids=[c.id for c in CASES])
def test_malformed_input_exits_2_naming_the_key_without_a_secret(index, case, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_case(case, index, tmp_path, capsys)
    assert code == 2, f"exit {code}\n{out}\n{err}"
    lines = err.splitlines()
    assert any(case.key in line and case.fragment in line for line in lines), err
    if "problem(s) with the stack's settings" in err:
        assert any(line.startswith(f"  - {case.key}: ") and case.fragment in line for line in lines), err
    assert "Traceback" not in err
    leaked = [s for s in SECRETS if s in out or s in err]
    assert not leaked, f"{leaked} printed:\n{out}\n{err}"


# --- real processes ------------------------------------------------------------------------------------


SUBPROCESS = [
    (["-m", "offline.gate", STACK], f'config:\n  n8n-platform:encryptionKey: "{KEY}\n', "while scanning a quoted scalar"),
    (["-m", "offline.render", "prod", "-o", "/proc/spec.yaml"], None, "cannot write --output /proc/spec.yaml"),
    (["-m", "offline.size", "--per-minute", "inf", "--seconds", "1"], None, "--per-minute: must be a finite number"),
    (["-m", "rehearsal.install", STACK], config({"licenseKey": LICENSE}), "licenseKey: is in plain text"),
    (["-m", "rehearsal.verify", "--url", f"https://me:{PASSWORD}@x.example", "--api-key", API_KEY], None,
     "--url: must be the app's URL"),
    (["-m", "offline.cost", STACK], b"config:\n  n8n-platform:region: \xe9\n", "is not UTF-8"),
]


@pytest.mark.parametrize("argv,file,fragment", SUBPROCESS, ids=[" ".join(a[:2]) for a, _, _ in SUBPROCESS])
def test_malformed_input_through_a_real_process(argv, file, fragment, tmp_path):
    if file is not None:
        path = tmp_path / f"Pulumi.{STACK}.yaml"
        path.write_bytes(file) if isinstance(file, bytes) else path.write_text(file)
    done = subprocess.run([sys.executable, *argv], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert done.returncode == 2, done.stdout + done.stderr
    assert fragment in done.stderr and "Traceback" not in done.stderr
    assert not [s for s in SECRETS if s in done.stdout + done.stderr]
