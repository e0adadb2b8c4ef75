"""The offline engine hands the pack what the Pulumi engine would: Analyze gets each resource's inputs,
AnalyzeStack every resource's outputs — a custom resource's provider state, a component's
`register_outputs`, the stack's exports — with secrets still wrapped on the wire."""

from __future__ import annotations

from google.protobuf import json_format, struct_pb2
from pulumi.runtime import rpc

from offline import gate
from offline.analyzer import analyze_request, stack_resource
from offline.engine import STACK, provider_outputs
from platform_model.catalog import APP, BUDGET
from stackedit import StackEdit
from stackrun import run_stack

SECRETS = "n8n-platform:secrets:Secrets"


def wire(struct: struct_pb2.Struct) -> dict:
    return json_format.MessageToDict(struct)


def struct(data: dict) -> struct_pb2.Struct:
    return json_format.ParseDict(data, struct_pb2.Struct())


def budget_verdicts(report: gate.GateReport) -> list[str]:
    return [v.message for v in report.verdicts if v.policy == "monthly-budget"]


# --- monthly-budget reads the Budget's outputs, as the engine sends them ---------------------------


def test_monthly_budget_fires_from_the_budget_components_outputs(pack):
    run = run_stack("prod", {"cost": {"monthlyBudget": 300}})
    budget = run.one(BUDGET)
    assert budget.inputs == {}, "the budget must reach the pack as outputs, not inputs"
    sent = wire(stack_resource(budget).properties)
    assert sent["monthlyBudget"] == 300 and set(sent["prices"]) == {"app", "postgres", "valkey"}
    assert wire(analyze_request(budget).properties) == {}

    [message] = budget_verdicts(gate.evaluate(run, pack))
    assert message.startswith("at maximum scale this stack costs $375.00/month, $75.00 over its budget of $300.00")


def test_a_budget_that_registers_no_outputs_is_reported_not_passed(pack):
    # What the pack saw when the Budget called register_outputs({}): no budget, so no verdict at all.
    stack = StackEdit(run_stack("prod", {"cost": {"monthlyBudget": 300}}))
    stack.props("n8n-budget").clear()
    messages = budget_verdicts(gate.evaluate(stack.as_run(), pack))
    assert not any("over its budget" in m for m in messages)
    assert messages == ["cannot see the budget: n8n-budget registered no budget outputs; the component must "
                        "pass its budget and prices to `register_outputs`"]


def test_without_a_budget_setting_monthly_budget_stays_silent(pack):
    run = run_stack("prod", {"cost": {"monthlyBudget": None}})
    assert "monthlyBudget" not in run.one(BUDGET).outputs
    assert budget_verdicts(gate.evaluate(run, pack)) == []


# --- what AnalyzeStack receives ----------------------------------------------------------------------


def test_stack_analysis_gets_outputs_and_resource_analysis_gets_inputs(prod):
    app = prod.one(APP)
    outputs, inputs = wire(stack_resource(app).properties), wire(analyze_request(app).properties)
    assert outputs["liveUrl"].startswith("https://") and "liveUrl" not in inputs  # computed by the provider
    assert set(inputs) == {"spec"}


def test_components_send_what_they_registered_and_the_stack_its_exports(prod):
    secrets = wire(stack_resource(prod.one(SECRETS)).properties)
    assert set(secrets) == {"encryption_key", "runner_tokens"}
    assert rpc.is_rpc_secret(secrets["encryption_key"])
    assert all(rpc.is_rpc_secret(t) for t in secrets["runner_tokens"].values())
    exports = wire(stack_resource(prod.one(STACK)).properties)
    assert set(exports) == set(prod.outputs) and rpc.is_rpc_secret(exports["encryption_key"])
    assert not rpc.is_rpc_secret(exports["app_url"])


def test_outputs_stay_secret_where_the_app_specs_inputs_were(prod):
    spec = wire(stack_resource(prod.one(APP)).properties)["spec"]
    assert {k for k, v in spec.items() if rpc.is_rpc_secret(v)} == {"services", "workers", "jobs"}
    assert not rpc.is_rpc_secret(spec["name"])


def test_edits_reach_both_calls_and_keep_the_wire_secret(prod):
    stack = StackEdit(prod)
    stack.set_env("n8n-worker-1", "N8N_ENCRYPTION_KEY", "edited-" + "k" * 40)
    stack.props("n8n-postgres-cluster").update(nodeCount=1)
    edited = {r.name: r for r in stack.as_run().resources}
    spec = wire(stack_resource(edited["n8n-app"]).properties)["spec"]
    assert {k for k, v in spec.items() if rpc.is_rpc_secret(v)} == {"services", "workers", "jobs"}
    for sent in (stack_resource(edited["n8n-app"]), analyze_request(edited["n8n-app"])):
        worker = next(c for c in edited_components(sent) if c["name"] == "n8n-worker-1")
        assert {"key": "N8N_ENCRYPTION_KEY", "value": "edited-" + "k" * 40} in \
            [{"key": e["key"], "value": rpc.unwrap_rpc_secret(e["value"])} for e in worker["envs"]]
    assert wire(analyze_request(edited["n8n-postgres-cluster"]).properties)["nodeCount"] == 1
    assert "privateHost" not in wire(analyze_request(edited["n8n-postgres-cluster"]).properties)


def edited_components(sent) -> list[dict]:
    spec = wire(sent.properties)["spec"]
    return [c for kind in ("services", "workers", "jobs") for c in rpc.unwrap_rpc_secret(spec.get(kind, []))]


def test_provider_outputs_keep_secrets_like_the_engine():
    secret = rpc.wrap_rpc_secret
    inputs = struct({"spec": {"name": "n", "envs": [{"value": secret("k")}]}, "plain": "p", "token": secret("t")})
    state = struct({"spec": {"name": "n", "envs": [{"value": "k"}]}, "plain": "p", "token": "t",
                    "password": "pw", "host": "h"})
    out = wire(provider_outputs(state, inputs, ["password"]))
    assert out["spec"]["name"] == "n"  # objects are followed key by key
    assert rpc.is_rpc_secret(out["spec"]["envs"])  # a list holding a secret is secret as a whole
    assert rpc.is_rpc_secret(out["token"]) and rpc.is_rpc_secret(out["password"])  # additionalSecretOutputs
    assert out["plain"] == "p" and out["host"] == "h"


def test_each_run_has_its_own_stack_resource(prod, staging):
    assert prod.one(STACK).urn.startswith("urn:pulumi:prod::")
    assert staging.one(STACK).urn.startswith("urn:pulumi:staging::")
    assert all(r.urn.startswith("urn:pulumi:staging::") for r in staging.resources)
