"""Known-bad App specs in the style of third-party templates (tests/templates/, written for these tests),
each registered as the prod stack's App through the provider SDK, as a stack built from such a template
would register it: the gate fails and names every defect, whatever registry the images come from."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from google.protobuf import json_format

from offline import gate
from offline.analyzer import reconcile
from offline.engine import run_program
from stackedit import StackEdit

HERE = Path(__file__).resolve().parent
PROGRAM = HERE / "template_app.py"
TEAM_IMAGES = ["registry.digitalocean.com/ops/automation-core", "registry.digitalocean.com/ops/automation-sandbox"]

# template -> (image-sources.allowedImages it is gated with, or None for the defaults;
#              policy -> fragments of its messages, one per defect)
DEFECTS = {
    "queue-mode-ghcr.yaml": (None, {
        "main-single-instance": ["editor autoscales"],
        "runner-topology": ["executor autoscales; a runner pool can only serve a broker with exactly one instance"],
        "database-tls": ["editor: DB_POSTGRESDB_SSL_REJECT_UNAUTHORIZED is false",
                         "executor: DB_POSTGRESDB_SSL_REJECT_UNAUTHORIZED is false"],
        "n8n-encryption-key": ["editor: N8N_ENCRYPTION_KEY is a placeholder"],
        "runner-auth-tokens": ["code-runners: N8N_RUNNERS_AUTH_TOKEN is a placeholder",
                               "executor: N8N_RUNNERS_AUTH_TOKEN equals N8N_ENCRYPTION_KEY"],
        "app-alerts": ["the app has no DEPLOYMENT_FAILED alert"],
        "health-checks": ["executor has no HTTP healthCheck", "code-runners has no HTTP livenessHealthCheck"],
        "database-access-roles": ["database binding 'pg' has no dedicated dbUser"],
        "n8n-deprecated-settings": ["editor: WEBHOOK_URL: deprecated", "executor: N8N_RUNNERS_ENABLED"],
    }),
    "community-build.yaml": (None, {
        "image-pinning": ["queue-worker: n8n-plus-nodes:latest is a floating tag", "sandbox: runners:latest"],
        "image-sources": ['add "docker.io/flowsmith/n8n-plus-nodes" to `image-sources.allowedImages`'],
        "n8n-components-recognised": ["n8n looks like n8n", "names no run_command",
                                      "hooks looks like n8n", "inside a shell script"],
        "managed-database-backups": ["n8n: DB_TYPE is not set"],
        "n8n-encryption-key": ["queue-worker: N8N_ENCRYPTION_KEY is a placeholder"],
        "runner-auth-tokens": ["sandbox: N8N_RUNNERS_AUTH_TOKEN is a placeholder"],
        "database-tls": ["hooks: DB_POSTGRESDB_SSL_ENABLED is not true"],
        "health-checks": ["sandbox has no HTTP livenessHealthCheck"],
        "app-alerts": ["the app has no DEPLOYMENT_FAILED alert"],
    }),
    "team-docr-build.yaml": (TEAM_IMAGES, {
        "n8n-components-recognised": ["console looks like n8n", "names no run_command"],
        "database-tls": ["engine-a: DB_POSTGRESDB_SSL_REJECT_UNAUTHORIZED is false"],
        "n8n-encryption-key": ["engine-a: N8N_ENCRYPTION_KEY is not set"],
        "runner-auth-tokens": ["sandbox-a: N8N_RUNNERS_AUTH_TOKEN is not set"],
        "app-alerts": ["DEPLOYMENT_FAILED alert(s) have no destination"],
    }),
}


def registered_spec(template: str) -> dict:
    """The App spec as the engine receives it when a program registers the template's spec."""
    run = run_program({"template:spec": str(HERE / "templates" / template)}, "prod", program=PROGRAM)
    app = run.one("digitalocean:index/app:App")
    return json_format.MessageToDict(app.properties)["spec"]


@pytest.fixture
def as_prods_app(prod):
    def register(template: str):
        stack = StackEdit(prod)
        stack.props("n8n-app")["spec"] = registered_spec(template)
        return stack.as_run()
    return register


def gated(pack, run, tmp_path: Path, allowed: list[str] | None):
    config = None
    if allowed is not None:
        config = tmp_path / "policy-pack.json"
        config.write_text(json.dumps({"image-sources": {"allowedImages": allowed}}))
    try:
        return gate.evaluate(run, pack, config)
    finally:
        pack.configure(reconcile(pack.info(), {}))


@pytest.mark.parametrize("template", sorted(DEFECTS))
def test_the_pack_names_every_defect_of_a_template(pack, as_prods_app, tmp_path, template):
    allowed, defects = DEFECTS[template]
    report = gated(pack, as_prods_app(template), tmp_path, allowed)
    assert report.exit_code == gate.VIOLATION
    messages = {}
    for v in report.verdicts:
        messages.setdefault(v.policy, []).append(v.message)
    for policy, fragments in defects.items():
        assert policy in messages, f"{template}: {policy} named nothing\n{gate.table(report)}"
        for fragment in fragments:
            assert any(fragment in m for m in messages[policy]), f"{template}: {policy} missed {fragment!r}"
    advisory = {"n8n-deprecated-settings", "monthly-budget"}
    assert {v.policy for v in report.mandatory} >= set(defects) - advisory


def test_an_own_build_is_named_until_the_config_allows_it(pack, as_prods_app, tmp_path):
    run = as_prods_app("team-docr-build.yaml")
    refused = [v for v in gated(pack, run, tmp_path, None).mandatory if v.policy == "image-sources"]
    assert {v.message.split(" runs ")[0] for v in refused} == {"console", "engine-a", "sandbox-a"}
    assert all("image-sources.allowedImages" in v.message for v in refused)
    assert not [v for v in gated(pack, run, tmp_path, TEAM_IMAGES).verdicts if v.policy == "image-sources"]
