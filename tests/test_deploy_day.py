"""Deploy-day settings: the app's VPC attachment, the run_command form, and Docker Hub credentials — from
the stack file through the settings, the rendered spec and the program to the policy pack."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from google.protobuf import json_format
from pulumi_policy.deserialize import SPECIAL_SECRET_SIG, SPECIAL_SIG_KEY

from offline import gate, render
from pack_in_process import PackInProcess
from platform_model import catalog
from platform_model.catalog import APP, CLUSTER, VPC
from platform_model.roles import recognise
from settings.model import SettingsError
from stack.loader import load_settings, load_stack
from stackedit import UNKNOWN, StackEdit
from stackrun import app_spec, component, components, env_of, run_stack, stack_config

ROOT = Path(__file__).resolve().parent.parent
PROD = (ROOT / "Pulumi.prod.yaml").read_text()
CREDENTIALS = "n8nops:dckr_pat_" + "Zq7Xw2Lm9Rt4Vb8N" * 2
TOKEN = CREDENTIALS.partition(":")[2]
ENCRYPTED = "v1:9J0nQ1aB2cD3eF4g:AbCdEfGhIjKlMnOpQrStUvWxYz0123456789=="
ATTACHED = {"app": {"vpc": True}}


def settings_with(overrides):
    return load_settings(stack_config("prod", overrides), "prod")


def images(spec: dict) -> dict[str, dict]:
    return {c["name"]: c["image"] for c in components(spec)}


# --- settings --------------------------------------------------------------------------------------------


def test_defaults_deploy_on_a_team_without_preview_features():
    s = load_settings({}, "prod")
    assert s.app.vpc is False
    assert s.app.run_command_replaces == "entrypoint"  # DigitalOcean's n8n template writes `n8n worker`
    assert s.docker_hub_credentials is None


@pytest.mark.parametrize("overrides", [
    {"app": {"vpc": True}},
    {"region": "nyc1", "app": {"vpc": True}},
    {"region": "nyc3", "app": {"vpc": False}},
    {"app": {"vpc": False, "runCommandReplaces": "cmd"}},
    {"dockerHubCredentials": CREDENTIALS},
    {"dockerHubCredentials": "acme-ci:dckr_oat_" + "k" * 20},  # an organisation access token
    {"dockerHubCredentials": "Legacy.User_1:" + "Tk9" * 4},
])
def test_good_deploy_day_settings_load(overrides):
    settings_with(overrides)


BAD = [
    ({"app": {"vpc": "yes"}}, "app.vpc", "must be true or false"),
    ({"app": {"vpc": 1}}, "app.vpc", "must be true or false"),
    ({"app": {"runCommandReplaces": "command"}}, "app.runCommandReplaces", "entrypoint, cmd"),
    ({"app": {"runCommandReplaces": "entrypint"}}, "app.runCommandReplaces", "did you mean entrypoint?"),
    ({"app": {"vcp": True}}, "app.vcp", "did you mean vpc?"),
    ({"app": True}, "app", "must be an object of settings"),
    ({"dockerHubCredentials": 42}, "dockerHubCredentials", "must be a string"),
    ({"dockerHubCredentials": TOKEN}, "dockerHubCredentials", "has no ':'"),
    ({"dockerHubCredentials": "ops@example.com:" + TOKEN}, "dockerHubCredentials", "an e-mail address"),
    ({"dockerHubCredentials": "n8nops:"}, "dockerHubCredentials", "has no access token"),
    ({"dockerHubCredentials": "n8nops:<token>"}, "dockerHubCredentials", "has no access token"),
    ({"dockerHubCredentials": ":" + TOKEN}, "dockerHubCredentials", "has no Docker Hub username"),
    ({"dockerHubCredentials": CREDENTIALS + "\n"}, "dockerHubCredentials", "a pasted line break"),
    ({"dockerHubCredentials": "<REQUIRED>"}, "dockerHubCredentials", "placeholder"),
    # An app of region nyc joins VPCs in nyc1 only; atl has no App Platform VPCs.
    ({"region": "nyc3", "app": {"vpc": True}}, "app.vpc", "can join only VPCs in nyc1, and the stack's VPC is in nyc3"),
    ({"region": "atl1", "app": {"vpc": True}}, "app.vpc", "can join no VPC at all"),
]


@pytest.mark.parametrize("overrides,key,fragment", BAD, ids=[f"{k}|{f}" for _, k, f in BAD])
def test_bad_deploy_day_settings_name_the_key_and_the_fix(overrides, key, fragment):
    with pytest.raises(SettingsError) as err:
        settings_with(overrides)
    lines = [line for line in str(err.value).splitlines() if line.startswith(f"  - {key}: ")]
    assert lines and any(fragment in line for line in lines), str(err.value)


def test_a_malformed_credential_is_described_never_shown():
    bad = "ops@example.com:" + TOKEN
    with pytest.raises(SettingsError) as err:
        settings_with({"dockerHubCredentials": bad})
    message = str(err.value)
    assert TOKEN not in message and "ops@example.com" not in message
    assert f"got a {len(bad)}-character value" in message
    assert "pulumi config set --secret dockerHubCredentials" in message


def test_a_plain_text_credential_in_the_stack_file_is_refused_with_the_command(tmp_path):
    path = tmp_path / "Pulumi.t.yaml"
    path.write_text(PROD + f"  n8n-platform:dockerHubCredentials: {CREDENTIALS}\n")
    with pytest.raises(SettingsError) as err:
        load_stack("t", path)
    assert "pulumi config set --secret dockerHubCredentials -s t" in str(err.value)
    assert TOKEN not in str(err.value)


def test_an_encrypted_credential_gets_a_well_formed_stand_in(tmp_path):
    path = tmp_path / "Pulumi.t.yaml"
    path.write_text(PROD + f"  n8n-platform:dockerHubCredentials:\n    secure: {ENCRYPTED}\n")
    sf, s = load_stack("t", path)
    stand_in = s.docker_hub_credentials.get_secret_value()
    assert sf.encrypted == ["dockerHubCredentials"] and ENCRYPTED not in stand_in
    assert stand_in.startswith("n8nplatform:dckr_pat_")


@pytest.mark.usefixtures("gate_on_the_session_pack")
def test_the_gate_passes_prod_with_an_encrypted_credential_and_prints_none_of_it(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "Pulumi.hub.yaml").write_text(PROD + f"  n8n-platform:dockerHubCredentials:\n    secure: {ENCRYPTED}\n")
    assert gate.main(["hub"]) == gate.PASS
    out, err = capsys.readouterr()
    assert "dockerHubCredentials is encrypted" in err
    assert ENCRYPTED not in out + err and "dckr_pat_" not in out + err


# --- the rendered spec, each mode --------------------------------------------------------------------------


def test_the_default_app_stays_out_of_the_vpc_and_reaches_the_clusters_by_their_bindings():
    spec = render.offline_spec(settings_with({}))
    assert "vpc" not in spec
    worker = env_of(next(c for c in spec["services"] if c["name"] == "n8n-worker-1"))
    assert worker["DB_POSTGRESDB_HOST"] == "${postgres.HOSTNAME}"
    assert worker["QUEUE_BULL_REDIS_HOST"] == "${valkey.HOSTNAME}"


def test_an_attached_app_names_the_vpc_and_keeps_the_same_hosts():
    spec = render.offline_spec(settings_with(ATTACHED))
    assert spec["vpc"] == {"id": render.VPC_PLACEHOLDER}
    worker = env_of(next(c for c in spec["services"] if c["name"] == "n8n-worker-1"))
    assert worker["DB_POSTGRESDB_HOST"] == "${postgres.HOSTNAME}"


@pytest.mark.parametrize("replaces,main,worker,webhook", [("entrypoint", "n8n start", "n8n worker", "n8n webhook"),
                                                          ("cmd", "start", "worker", "webhook")])
def test_the_run_command_takes_the_form_the_platform_needs(replaces, main, worker, webhook):
    s = settings_with({"app": {"runCommandReplaces": replaces}, "webhooks": {"processors": 1}})
    commands = {c["name"]: c.get("run_command") for c in components(render.offline_spec(s))}
    assert commands["n8n-worker-1"] == commands["n8n-worker-2"] == worker
    assert commands["n8n-webhook"] == webhook
    assert commands["n8n-main"] == main
    assert commands["n8n-runners-1"] is None  # the runners image's default: its launcher
    assert commands["n8n-db-grants"].startswith("sh -c")  # postgres' entrypoint runs it either way
    # Either form, the policy pack and the rehearsal read the same n8n command from it.
    roles = {n: recognise("services", component(render.offline_spec(s), n)) for n in
             ("n8n-worker-1", "n8n-webhook", "n8n-main")}
    assert {n: (r.role, r.n8n_args) for n, r in roles.items()} == {
        "n8n-worker-1": ("worker", ("worker",)), "n8n-webhook": ("webhook", ("webhook",)),
        "n8n-main": ("main", ("start",))}


def test_credentials_go_on_every_docker_hub_image_and_only_there():
    spec = render.offline_spec(settings_with({"dockerHubCredentials": CREDENTIALS}))
    pulled = images(spec)
    assert set(pulled) == {"n8n-main", "n8n-worker-1", "n8n-worker-2", "n8n-runners-1", "n8n-runners-2",
                           "n8n-db-grants", "n8n-backup"}
    assert all(i["registry_type"] == catalog.DOCKER_HUB for i in pulled.values())
    assert {i["registry_credentials"] for i in pulled.values()} == {render.redacted("dockerHubCredentials")}
    text = render.to_yaml(spec)
    assert text.count("registry_credentials") == len(pulled) and TOKEN not in text
    anonymous = render.offline_spec(settings_with({}))
    assert not any("registry_credentials" in i for i in images(anonymous).values())


def test_render_writes_no_credential(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "Pulumi.hub.yaml").write_text(PROD + f"  n8n-platform:dockerHubCredentials:\n    secure: {ENCRYPTED}\n")
    assert render.main(["hub", "-q"]) == 0
    out = capsys.readouterr().out
    spec = yaml.safe_load(out)
    assert all(i["registry_credentials"] == "<redacted: dockerHubCredentials>" for i in images(spec).values())
    assert "dckr_pat_" not in out and ENCRYPTED not in out


# --- the program under the engine's mocks --------------------------------------------------------------


def test_the_program_attaches_the_app_to_the_clusters_vpc_only_when_asked(prod):
    assert "vpcs" not in app_spec(prod)
    run = run_stack("prod", ATTACHED)
    vpc, app = run.one(VPC), run.one(APP)
    [attached] = app_spec(run)["vpcs"]
    assert {c.inputs["privateNetworkUuid"] for c in run.of_type(CLUSTER)} == {attached["id"]}
    assert vpc.urn in app.property_dependencies["spec"]


def _wire(value, path):
    for part in path:
        value = value[part]
    return value


def test_credentials_reach_the_engine_as_secrets_on_every_image_and_in_no_output():
    run = run_stack("prod", {"dockerHubCredentials": CREDENTIALS})
    spec = json_format.MessageToDict(run.one(APP).properties)["spec"]
    wired = [c["image"]["registryCredentials"] for kind in ("services", "workers", "jobs") for c in spec[kind]]
    assert len(wired) == 7  # main, 2 workers, 2 runner pools, the pre-deploy job, the backup worker
    assert all(w.get(SPECIAL_SIG_KEY) == SPECIAL_SECRET_SIG and w["value"] == CREDENTIALS for w in wired)
    for key, value in run.outputs.items():
        assert key in run.secret_outputs or TOKEN not in json.dumps(value, default=str), key
    for r in run.resources:
        if r.type != APP:
            assert TOKEN not in json.dumps(r.inputs, default=str) + json.dumps(r.outputs, default=str), r.name


# --- the policy pack, each mode (in-process; tests/test_policies.py holds that to the running pack) -------


@pytest.mark.parametrize("overrides", [
    {}, ATTACHED, {"app": {"runCommandReplaces": "cmd"}}, {"dockerHubCredentials": CREDENTIALS},
    {"app": {"vpc": True, "runCommandReplaces": "cmd"}, "dockerHubCredentials": CREDENTIALS,
     "webhooks": {"processors": 1}},
], ids=["default", "attached", "cmd form", "credentials", "all at once"])
def test_prod_passes_the_pack_in_every_mode(policies, overrides):
    assert policies.check(run_stack("prod", overrides).resources) == []


def test_the_pack_sees_workers_in_the_arguments_form(policies):
    stack = StackEdit(run_stack("prod", {"app": {"runCommandReplaces": "cmd"}}))
    stack.component("n8n-worker-1").pop("healthCheck")
    verdicts = [v for v in stack.send(policies) if v.policy == "health-checks"]
    assert verdicts, "the worker was not recognised as a worker"


def test_an_attached_app_and_clusters_with_vpc_ids_unknown_at_preview_pass(policies):
    stack = StackEdit(run_stack("prod", ATTACHED))
    stack.spec["vpcs"][0]["id"] = UNKNOWN
    for cluster in ("n8n-postgres-cluster", "n8n-valkey-cluster"):
        stack.props(cluster)["privateNetworkUuid"] = UNKNOWN
    assert stack.send(policies) == []  # compared by the Vpc resource both were computed from


def test_require_app_vpc_fails_an_unattached_app_and_passes_an_attached_one(prod):
    required = PackInProcess({"private-network": {"requireAppVpc": True}})
    verdicts = [v for v in required.check(prod.resources) if v.policy == "private-network"]
    attached = required.check(run_stack("prod", ATTACHED).resources)
    assert verdicts and verdicts[0].mandatory and "requireAppVpc" in verdicts[0].message
    assert attached == []


def test_private_network_names_what_protects_traffic_outside_the_vpc(pack):
    policy = next(p for p in pack.info().policies if p.name == "private-network")
    assert "database-tls" in policy.remediation_steps and "database-trusted-sources" in policy.remediation_steps
