"""The one classifier of what a component runs (policies/platform_model/roles.py) and where its image comes from
(policies/platform_model/images.py), as rows of (component, expected)."""

from __future__ import annotations

import pytest

from builders.deployment import deployment_from_settings
from offline.render import offline_spec
from platform_model import capacity, spec_fields
from platform_model.deployment import from_app_spec
from platform_model.images import image_of
from platform_model.roles import (
    MAIN,
    N8N_COMMAND,
    NOT_N8N,
    RUNNERS,
    UNRECOGNISED,
    WEBHOOK,
    WORKER,
    parse_command,
    recognise,
)
from stack.loader import load_settings
from stackrun import app_spec, run_stack, stack_config

HUB_N8N = {"registry_type": "DOCKER_HUB", "registry": "n8nio", "repository": "n8n", "tag": "2.41.1"}
HUB_RUNNERS = {**HUB_N8N, "repository": "runners"}
GHCR_N8N = {"registry_type": "GHCR", "registry": "ghcr.io", "repository": "n8n-io/n8n", "tag": "2.41.1"}
GHCR_RUNNERS = {"registry_type": "GHCR", "registry": "n8n-io", "repository": "runners", "tag": "2.41.1"}
TEAM = {"registry_type": "DOCR", "repository": "workflow-engine", "tag": "2.41.1-acme.1"}
POSTGRES = {"registry_type": "DOCKER_HUB", "registry": "library", "repository": "postgres", "tag": "17-alpine"}
N8N_ENV = ["EXECUTIONS_MODE", "DB_TYPE", "N8N_ENCRYPTION_KEY", "QUEUE_BULL_REDIS_HOST"]
RUNNER_ENV = ["N8N_RUNNERS_TASK_BROKER_URI", "N8N_RUNNERS_AUTH_TOKEN", "N8N_RUNNERS_LAUNCHER_HEALTH_CHECK_PORT"]


def component(image=None, run=None, env=(), **more) -> dict:
    c = {"name": "c", "envs": [{"key": k, "value": "x"} for k in env], **more}
    if image is not None:
        c["image"] = image
    if run is not None:
        c["run_command"] = run
    return c


ROWS = [
    # (case, kind, component, role)
    ("n8n's image, its default command", "services", component(HUB_N8N, env=N8N_ENV), MAIN),
    ("n8n start", "services", component(GHCR_N8N, "n8n start", N8N_ENV), MAIN),
    ("n8n worker from GHCR", "services", component(GHCR_N8N, "n8n worker", N8N_ENV), WORKER),
    ("n8n webhook", "services", component(HUB_N8N, "n8n webhook", N8N_ENV), WEBHOOK),
    ("worker flags", "services", component(HUB_N8N, "n8n worker --concurrency=20", N8N_ENV), WORKER),
    ("behind tini and the entrypoint", "services",
     component(TEAM, "tini -- /docker-entrypoint.sh worker", N8N_ENV), WORKER),
    ("through node", "services",
     component(TEAM, "node --max-old-space-size=2048 -r /opt/tracing.js /usr/local/lib/node_modules/n8n/bin/n8n "
                     "webhook", N8N_ENV), WEBHOOK),
    ("exec in sh -c", "services", component(TEAM, "sh -c 'exec n8n worker'", N8N_ENV), WORKER),
    ("a team build named for what it does", "services", component(TEAM, "n8n start", N8N_ENV), MAIN),
    ("runners image, its default command", "workers", component(HUB_RUNNERS, env=RUNNER_ENV), RUNNERS),
    ("runners from GHCR", "workers", component(GHCR_RUNNERS, env=RUNNER_ENV), RUNNERS),
    ("a team's runners build: the launcher's settings say it", "workers",
     component({**TEAM, "repository": "code-sandbox"}, env=RUNNER_ENV), RUNNERS),
    ("the launcher named", "workers", component(TEAM, "/usr/local/bin/task-runner-launcher javascript", RUNNER_ENV),
     RUNNERS),
    ("a one-shot n8n command in a job", "jobs", component(HUB_N8N, "n8n import:workflow --input=/w.json", N8N_ENV),
     N8N_COMMAND),
    ("the grant job: psql in a shell", "jobs",
     component(POSTGRES, "sh -c 'ca=$(mktemp) && psql -c \"$SQL\"; rm -f \"$ca\"'", ["PGHOST", "PGUSER"]), NOT_N8N),
    ("a job with n8n's settings that runs something else", "jobs", component(POSTGRES, "pg_dump", N8N_ENV), NOT_N8N),
    ("a service unrelated to n8n", "services", component(POSTGRES, "postgres", ["POSTGRES_DB"]), NOT_N8N),
    ("a service built from source, nothing of n8n", "services", component(None, None, ["PORT"]), NOT_N8N),
    # fail closed
    ("a team build without run_command", "services", component(TEAM, env=N8N_ENV), UNRECOGNISED),
    ("built from source, n8n's settings", "services", component(None, None, N8N_ENV, github={"repo": "a/b"}),
     UNRECOGNISED),
    ("n8n and launcher settings, no command", "workers", component(TEAM, env=N8N_ENV + RUNNER_ENV), UNRECOGNISED),
    ("n8n in a shell script", "services", component(HUB_N8N, "sh -c 'sleep 5 && n8n worker'", N8N_ENV),
     UNRECOGNISED),
    ("settings on the command line", "services", component(HUB_N8N, "env DB_TYPE=sqlite n8n start", N8N_ENV),
     UNRECOGNISED),
    ("the entrypoint given n8n again", "services", component(HUB_N8N, "/docker-entrypoint.sh n8n worker", N8N_ENV),
     UNRECOGNISED),
    ("a one-shot command as a service", "services", component(HUB_N8N, "n8n execute --id=3", N8N_ENV), UNRECOGNISED),
    ("n8n's settings on another program", "services", component(TEAM, "python3 app.py", N8N_ENV), UNRECOGNISED),
    ("n8n's port on another program", "services", component(TEAM, "python3 app.py", http_port=5678), UNRECOGNISED),
    ("a job that serves", "jobs", component(HUB_N8N, "n8n worker", N8N_ENV), UNRECOGNISED),
    ("a job with n8n's image and no command", "jobs", component(HUB_N8N, env=N8N_ENV), UNRECOGNISED),
    ("a job that runs the launcher", "jobs", component(HUB_RUNNERS, env=RUNNER_ENV), UNRECOGNISED),
    ("n8n in the runners image", "services", component(HUB_RUNNERS, "n8n worker", N8N_ENV), UNRECOGNISED),
    ("unbalanced quotes", "services", component(HUB_N8N, "n8n 'worker", N8N_ENV), UNRECOGNISED),
]


@pytest.mark.parametrize("kind,comp,role", [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_a_component_is_recognised_by_what_it_runs(kind, comp, role):
    found = recognise(kind, comp)
    assert found.role == role, found
    if role == UNRECOGNISED:
        message = found.problem("c")
        assert message.startswith("c looks like n8n (") and found.why in message


def test_camel_case_as_the_engine_sends_it_reads_the_same():
    camel = {"name": "w", "runCommand": "n8n worker", "image": {"registryType": "GHCR", "registry": "n8n-io",
                                                                 "repository": "n8n", "tag": "2.41.1"},
             "internalPorts": [5678, 5679], "envs": [{"key": "EXECUTIONS_MODE", "value": "queue"}]}
    found = recognise("services", camel)
    assert (found.role, found.n8n_args) == (WORKER, ("worker",))
    assert "port 5679" in found.signals and "image ghcr.io/n8n-io/n8n" in found.signals


def test_an_unknown_command_at_preview_is_never_guessed():
    sentinel = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
    found = recognise("services", component(HUB_N8N, sentinel, N8N_ENV), is_unknown=lambda v: v == sentinel)
    assert found.role == UNRECOGNISED and "not known at preview" in found.why


def test_signals_name_settings_never_their_values():
    secret = "s3cr3t-" + "q" * 30
    comp = component(TEAM, env=N8N_ENV)
    comp["envs"][2]["value"] = secret
    assert secret not in recognise("services", comp).problem("c")


@pytest.mark.parametrize("command,n8n_args", [
    ("n8n", ()), ("n8n start", ("start",)), ("/usr/local/bin/n8n worker", ("worker",)),
    ("tini -g -- n8n webhook", ("webhook",)), ("/docker-entrypoint.sh", ()),
])
def test_n8n_arguments_are_what_n8n_is_told_to_run(command, n8n_args):
    assert parse_command(command).args == n8n_args


# --- where an image comes from --------------------------------------------------------------------

@pytest.mark.parametrize("image,shown", [
    (HUB_N8N, "docker.io/n8nio/n8n:2.41.1"),
    ({"registry_type": "DOCKER_HUB", "registry": "registry.hub.docker.com", "repository": "n8nio/n8n", "tag": "2.41.1"},
     "docker.io/n8nio/n8n:2.41.1"),
    ({"registry_type": "DOCKER_HUB", "repository": "postgres", "tag": "17"}, "docker.io/library/postgres:17"),
    (GHCR_N8N, "ghcr.io/n8n-io/n8n:2.41.1"),
    (GHCR_RUNNERS, "ghcr.io/n8n-io/runners:2.41.1"),
    (TEAM, "registry.digitalocean.com/<your registry>/workflow-engine:2.41.1-acme.1"),
    ({**HUB_N8N, "tag": None, "digest": "sha256:" + "a" * 64}, "docker.io/n8nio/n8n@sha256:" + "a" * 64),
    ({**HUB_N8N, "tag": None}, "docker.io/n8nio/n8n (no tag)"),
])
def test_an_image_reads_as_docker_pull_names_it(image, shown):
    found, problem = image_of({"image": image})
    assert problem is None and found.shown() == shown


@pytest.mark.parametrize("image,problem", [
    ({**HUB_N8N, "registry": "quay.io", "repository": "n8nio/n8n"}, "'quay.io' is not docker.io"),
    ({**GHCR_N8N, "registry": "docker.io"}, "'docker.io' is not ghcr.io"),
    ({**TEAM, "registry": "acme"}, "wants `registry` empty"),
    ({**HUB_N8N, "registry_type": "ECR"}, "pulls from DOCKER_HUB, GHCR, DOCR only"),
    ({**HUB_N8N, "repository": ""}, "names no repository"),
])
def test_an_image_that_cannot_be_placed_says_why(image, problem):
    found, why = image_of({"image": image})
    assert found is None and problem in why


def test_registry_credentials_are_never_shown():
    found, _ = image_of({"image": {**HUB_N8N, "registry_credentials": "ci-bot:dckr_pat_secretsecret"}})
    assert "dckr_pat" not in found.shown() + found.reference


@pytest.mark.parametrize("image,allowed,expected", [
    (GHCR_N8N, ["ghcr.io/n8n-io/n8n"], True),
    (GHCR_N8N, ["docker.io/n8nio/n8n"], False),
    (TEAM, ["registry.digitalocean.com/acme/workflow-engine"], True),
    (TEAM, ["registry.digitalocean.com/acme/n8n"], False),
    ({"registry_type": "DOCKER_HUB", "repository": "postgres", "tag": "17"}, ["docker.io/postgres"], True),
])
def test_allowed_images_match_by_registry_and_repository(image, allowed, expected):
    found, _ = image_of({"image": image})
    assert found.allowed_by(allowed) is expected


# --- the capacity arithmetic counts the same components --------------------------------------------


def test_capacity_counts_n8n_wherever_its_image_comes_from():
    prod = load_settings(stack_config("prod"), "prod")
    spec = offline_spec(prod)
    team_names = {"n8n": "workflow-engine", "runners": "code-sandbox"}
    for kind in ("services", "workers"):
        for c in spec[kind]:
            if c["image"]["repository"] in team_names:  # the backup worker runs postgres, not n8n
                c["image"] = {**TEAM, "repository": team_names[c["image"]["repository"]]}
    expected = capacity.processes(deployment_from_settings(prod))
    assert capacity.processes(from_app_spec(spec)) == expected
    assert [w.split(":")[0] for w in capacity.runner_warnings(from_app_spec(_starved(spec)))] == ["n8n-runners-1"]
    assert capacity.processes(from_app_spec(app_spec(run_stack("prod")))) == expected


def _starved(spec: dict) -> dict:
    """The first runner pool taking 2 Code-node tasks at once, against its worker's 10 executions."""
    pool = spec["workers"][0]
    pool["envs"] = [e for e in pool["envs"] if e["key"] != "N8N_RUNNERS_MAX_CONCURRENCY"]
    pool["envs"].append({"key": "N8N_RUNNERS_MAX_CONCURRENCY", "value": "2"})
    return spec


def test_the_model_knows_the_engines_values_unknown_at_preview():
    # platform_model must not import pulumi_policy (the program imports the model too); the sentinels it
    # keeps must be the ones the engine sends and pulumi_policy's proxy raises on.
    from pulumi_policy import proxy

    assert {proxy.UNKNOWN_BOOLEAN_VALUE, proxy.UNKNOWN_NUMBER_VALUE,
                                    proxy.UNKNOWN_STRING_VALUE, proxy.UNKNOWN_ARRAY_VALUE,
                                    proxy.UNKNOWN_OBJECT_VALUE, proxy.UNKNOWN_ASSET_VALUE,
                                    proxy.UNKNOWN_ARCHIVE_VALUE} == spec_fields.UNKNOWNS
