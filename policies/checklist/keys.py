"""Checklist: strong encryption key, runner auth token, strong unique keys, runner tokens secured (and
the Docker Hub credentials, a secret of the same kind).

n8n encrypts every stored credential with N8N_ENCRYPTION_KEY; every process must hold the same key or
workers cannot read what main stored. A task broker admits runners that present its
N8N_RUNNERS_AUTH_TOKEN; one token per broker means a leaked token opens one runner pool, not all.

Unknown values: at a first preview the generated secrets are unknown (RandomPassword results exist
only after `pulumi up`). An unknown secret is accepted when the App's spec depends on random
generators that are all at least 32 characters long, at least one per distinct unknown secret; any
other unknown secret is a violation, because its strength and uniqueness cannot be shown.

App Platform's ciphertext: AnalyzeStack reads the App's outputs, and after `pulumi up` those hold App
Platform's ciphertext (`EV[1:...]`) of every SECRET value, different for each env var even where the
values are equal. Ciphertext is neither weak nor compared: every preview, the update's included, checks
the values themselves, which the planned outputs still hold.
"""

from __future__ import annotations

import re
from typing import Any

from pulumi_policy import PolicyResource, Severity

from platform_model import catalog, secret_strength
from platform_model.catalog import APP, RANDOM_PASSWORD, RANDOM_STRING
from platform_model.spec_fields import is_unknown, number
from platform_model.spec_reader import AppSpec, Component, broker_address

from .resources import Stack, StackProblems, app_check, resource_policy, stack_policy

ENCRYPTION_KEY = "N8N_ENCRYPTION_KEY"
RUNNER_TOKEN = "N8N_RUNNERS_AUTH_TOKEN"
GENERATORS = (RANDOM_PASSWORD, RANDOM_STRING)


def _comparable(value: Any) -> bool:
    """A value whose strength and equality can be judged: not unknown at preview, not ciphertext."""
    return not is_unknown(value) and not (isinstance(value, str) and catalog.is_app_platform_ciphertext(value))


def _entry_problems(component: Component, key: str) -> list[str]:
    entry = component.env.get(key)
    if entry is None:
        return [f"{component.name}: {key} is not set"]
    problems = []
    if entry.get("type") != "SECRET":
        problems.append(f"{component.name}: {key} is type {entry.get('type') or 'GENERAL'}, so App Platform "
                        "shows it in plain text; make it type SECRET")
    value = entry.get("value")
    weakness = secret_strength.weakness(value) if _comparable(value) else None
    if weakness:
        problems.append(f"{component.name}: {key} {weakness}")
    return problems


def _generated(stack: Stack, app: PolicyResource, unknown: list[str]) -> StackProblems:
    """Unknown secrets pass only when they can all come from distinct, long enough random generators."""
    if not unknown:
        return
    strong = 0
    for generator in [d for t in GENERATORS for d in stack.dependencies_of_type(app, "spec", t)]:
        length = number(stack.props(generator).get("length"))
        if length is None or length < catalog.MIN_SECRET_LENGTH:
            shown = "an unknown number of" if length is None else f"{length:.0f}"
            yield generator.urn, (f"{generator.name} generates {shown} characters and the app's secrets "
                                  f"depend on it; every generated secret needs at least "
                                  f"{catalog.MIN_SECRET_LENGTH}")
        else:
            strong += 1
    if strong < len(unknown):
        yield app.urn, (f"{', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} only known after "
                        "`pulumi up`, and the app's spec depends "
                        f"on {strong} random generator(s) of at least {catalog.MIN_SECRET_LENGTH} characters "
                        f"for {len(unknown)} distinct secret(s): generate each secret with its own "
                        "RandomPassword, or set it with `pulumi config set --secret`")


def _key_values(spec: AppSpec) -> dict[str, Any]:
    return {c.name: c.value(ENCRYPTION_KEY) for c in spec.n8n_components() if ENCRYPTION_KEY in c.env}


def encryption_key_problems(stack: Stack) -> StackProblems:
    for app, spec, problems in stack.apps():
        yield from ((app.urn, p) for p in problems)
        if spec is None:
            continue
        for process in spec.n8n_components():
            for p in _entry_problems(process, ENCRYPTION_KEY):
                yield app.urn, p
        values = _key_values(spec)
        known = {v for v in values.values() if _comparable(v)}
        unknown = [name for name, v in values.items() if is_unknown(v)]
        if len(known) > 1 or (known and unknown):
            yield app.urn, (f"{ENCRYPTION_KEY} differs between n8n processes ({', '.join(sorted(values))}); "
                            "workers cannot decrypt credentials main stored. Give every process the same key")
        if unknown:
            yield from _generated(stack, app, [ENCRYPTION_KEY])


def runner_token_problems(stack: Stack) -> StackProblems:
    for app, spec, problems in stack.apps():
        yield from ((app.urn, p) for p in problems)
        if spec is None:
            continue
        brokers = [c for c in spec.n8n_processes() if c.value("N8N_RUNNERS_MODE") == "external"]
        tokens: dict[str, Any] = {}
        for broker in brokers:
            for p in _entry_problems(broker, RUNNER_TOKEN):
                yield app.urn, p
            if RUNNER_TOKEN in broker.env:
                tokens[broker.name] = broker.value(RUNNER_TOKEN)
        for pool in spec.runner_pools():
            for p in _entry_problems(pool, RUNNER_TOKEN):
                yield app.urn, p
            served, _port = broker_address(pool.value("N8N_RUNNERS_TASK_BROKER_URI"))
            token, expected = pool.value(RUNNER_TOKEN), tokens.get(served) if served is not None else None
            if (served in tokens and token is not None and _comparable(token) and _comparable(expected)
                    and token != expected):
                yield app.urn, (f"{pool.name}: {RUNNER_TOKEN} differs from the token of its broker {served}; "
                                "its runners cannot authenticate")
        keys = {v for v in _key_values(spec).values() if _comparable(v)}
        seen: dict[str, str] = {}
        for broker_name, token in tokens.items():
            if not _comparable(token) or not token:
                continue  # unknown: see below; empty: reported above
            if token in keys:
                yield app.urn, (f"{broker_name}: {RUNNER_TOKEN} equals {ENCRYPTION_KEY}; a runner token must open "
                                "nothing else")
            if token in seen:
                yield app.urn, (f"{broker_name}: {RUNNER_TOKEN} is the same as {seen[token]}'s; give every broker "
                                "its own token")
            seen.setdefault(token, broker_name)
        unknown = [f"{RUNNER_TOKEN} of {b}" for b, t in tokens.items() if is_unknown(t)]
        if unknown and any(is_unknown(v) for v in _key_values(spec).values()):
            unknown.append(ENCRYPTION_KEY)  # must differ from the tokens as well
        yield from _generated(stack, app, unknown)


encryption_key = stack_policy(
    name="n8n-encryption-key",
    description="Every n8n process holds the same strong N8N_ENCRYPTION_KEY as a SECRET env var.",
    severity=Severity.CRITICAL,
    remediation=(
        "Leave `encryptionKey` unset to have a 48-character key generated, or set a real one with "
        "`pulumi config set --secret encryptionKey \"$(openssl rand -hex 32)\"`: generated, not typed (at "
        "least 32 characters; no whitespace, placeholder, repeated block or run: "
        "policies/platform_model/secret_strength.py). The builders in builders/env.py give every n8n process "
        "the same key as type SECRET; do not set it per component."
    ),
    check=encryption_key_problems,
)

runner_auth_tokens = stack_policy(
    name="runner-auth-tokens",
    description=("Every task broker and its runner pool share one strong N8N_RUNNERS_AUTH_TOKEN (SECRET), "
                 "distinct from every other broker's token and from the encryption key."),
    severity=Severity.HIGH,
    remediation=(
        "Leave `runnerAuthTokens` unset to have one 48-character token generated per broker, or set "
        "`runnerAuthTokens.<broker>` per broker with `pulumi config set --secret --path`, each at least 32 "
        "characters and all different from each other and from `encryptionKey`."
    ),
    check=runner_token_problems,
)

# Env var names that hold credentials. Values that are App Platform bindable references
# (`${postgres.PASSWORD}`) are resolved by App Platform at deploy time and are not secrets in the spec.
_SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|_KEY$|LICENSE")
_OWNED = {ENCRYPTION_KEY, RUNNER_TOKEN}  # checked, with their strength, by the policies above
_REFERENCE = re.compile(r"\$\{[^}]+\}")


def secret_env_problems(spec: AppSpec, _args) -> list[str]:
    problems = []
    for component in spec.components():
        for key, entry in component.env.items():
            if not isinstance(key, str) or key in _OWNED or not _SECRET_NAME.search(key):
                continue
            value = entry.get("value")
            if isinstance(value, str) and _REFERENCE.fullmatch(value):
                continue
            if entry.get("type") != "SECRET":
                problems.append(f"{component.name}: {key} holds a credential but is type "
                                f"{entry.get('type') or 'GENERAL'}; make it type SECRET")
    return problems


secret_env_vars = resource_policy(
    name="secret-env-vars",
    description="Env vars that hold credentials (passwords, tokens, keys, licenses) are type SECRET.",
    severity=Severity.HIGH,
    remediation=(
        "Build the env var with `env.secret(key, value)` in builders/env.py, not `env.var`: App Platform "
        "encrypts SECRET values and never shows them in the console or in `doctl apps spec get`."
    ),
    types=(APP,),
    check=app_check(secret_env_problems),
)


# --- Docker Hub credentials ----------------------------------------------------------------------

REGISTRY_CREDENTIALS = "registryCredentials"
MIN_SEARCHED_TOKEN = 8  # shorter tokens would match unrelated values; the format check names them anyway


def _docker_hub_images(spec: AppSpec) -> list[tuple[Component, dict]]:
    return [(c, c.data["image"]) for c in spec.components()
            if isinstance(c.data.get("image"), dict) and c.data["image"].get("registryType") == catalog.DOCKER_HUB]


def _shown(spec: AppSpec, credentials: set[str]) -> list[str]:
    """Where the credentials (or their token) stand in plain text: a GENERAL env var or a command, which
    App Platform shows to anyone who can read the app."""
    tokens = {c.partition(":")[2] for c in credentials}
    needles = credentials | {t for t in tokens if len(t) >= MIN_SEARCHED_TOKEN}
    found = []
    for component in spec.components():
        plain = {key: e.get("value") for key, e in component.env.items() if e.get("type") != "SECRET"}
        plain["run_command"] = component.data.get("runCommand")
        found += [f"{component.name}: {key} holds the Docker Hub credentials in plain text"
                  for key, value in plain.items() if isinstance(value, str) and any(n in value for n in needles)]
    return found


def registry_credential_problems(spec: AppSpec, _args) -> list[str]:
    images = _docker_hub_images(spec)
    given = {c.name: img[REGISTRY_CREDENTIALS] for c, img in images if img.get(REGISTRY_CREDENTIALS)}
    if not given:
        return []  # anonymous pulls: allowed, and docs/operations.md says what they risk
    problems = []
    anonymous = [c.name for c, img in images if not img.get(REGISTRY_CREDENTIALS)]
    if anonymous:
        problems.append(f"{', '.join(anonymous)} pull from Docker Hub anonymously while {', '.join(given)} use "
                        "credentials; give every Docker Hub image the same registry_credentials")
    known = {v for v in given.values() if not is_unknown(v)}
    if len(known) > 1:
        problems.append("the Docker Hub images carry different registry_credentials; give them all the same")
    weak = {secret_strength.registry_credentials_problem(v) for v in known}
    problems += [f"registry_credentials {problem}" for problem in sorted(p for p in weak if p is not None)]
    return problems + _shown(spec, {v for v in known if isinstance(v, str)})


registry_credentials = resource_policy(
    name="registry-credentials",
    description=("Docker Hub credentials, when set, are well formed, on every Docker Hub image alike, and in no "
                 "plain-text env var or command."),
    severity=Severity.HIGH,
    remediation=(
        "Store \"<username>:<access token>\" with `pulumi config set --secret dockerHubCredentials`; "
        "builders/app_spec.py puts it in `registry_credentials` of every Docker Hub image (n8n, runners, the "
        "pre-deploy job's postgres), which App Platform encrypts on submission. Never copy it into an env var "
        "of type GENERAL or a run_command, which App Platform shows to anyone who can read the app."
    ),
    types=(APP,),
    check=app_check(registry_credential_problems),
)

POLICIES = [encryption_key, runner_auth_tokens, secret_env_vars, registry_credentials]
