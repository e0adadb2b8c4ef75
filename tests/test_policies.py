"""Every policy: metadata, a compliant stack, each way to fail, and the verdict each policy gives for
values that are unknown at preview.

Each case edits the prod stack as the engine would receive it after a code change (tests/stackedit.py)
and sends it with Analyze and AnalyzeStack. The pack subprocess over gRPC (`pack` fixture) gets its
metadata, the shipped stack, one failure per policy and its enforcement levels from a policy-pack
config; every other case calls the policies in this process with the same arguments
(`policies` fixture, tests/pack_in_process.py), which the first test below holds to the running pack.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from google.protobuf import json_format
from pulumi.runtime.proto import analyzer_pb2 as proto
from pulumi_policy.deserialize import deserialize_properties, serialize_properties
from pulumi_policy.proxy import unknown_checking_proxy

from checklist import POLICIES
from checklist.resources import plain
from offline.analyzer import parse_policy_config, reconcile
from pack_in_process import PackInProcess
from stackedit import UNKNOWN, StackEdit
from stackrun import run_stack

ROOT = Path(__file__).resolve().parent.parent
KEY, TOKEN = "N8N_ENCRYPTION_KEY", "N8N_RUNNERS_AUTH_TOKEN"
STRONG = "k" * 40
N8N_PROCESSES = ("n8n-main", "n8n-worker-1", "n8n-worker-2")
ADVISORY_BY_DEFAULT = {"connection-budget", "runner-capacity", "monthly-budget", "n8n-deprecated-settings"}


@contextlib.contextmanager
def configured(pack, given: dict):
    """Run with a policy-pack config ({"policy": "advisory" | {...}}), then restore the pack's defaults."""
    pack.configure(reconcile(pack.info(), parse_policy_config(given)))
    try:
        yield
    finally:
        pack.configure(reconcile(pack.info(), {}))


# --- metadata ------------------------------------------------------------------------------------


def test_the_policies_called_in_process_are_the_packs_in_its_order(pack):
    assert [p.name for p in POLICIES] == [p.name for p in pack.info().policies]


def test_every_policy_has_the_metadata_a_reviewer_needs(pack):
    info = pack.info()
    assert info.name == "n8n-platform" and info.supportsConfig
    assert len(info.policies) >= 20
    for p in info.policies:
        assert p.description.endswith("."), p.name
        assert p.severity != proto.POLICY_SEVERITY_UNSPECIFIED, p.name
        assert len(p.remediation_steps) > 60, p.name
        expected = proto.ADVISORY if p.name in ADVISORY_BY_DEFAULT else proto.MANDATORY
        assert p.enforcementLevel == expected, p.name


def test_policy_docs_map_every_policy_to_the_checklist(pack):
    doc = (ROOT / "docs" / "policies.md").read_text()
    checklist = doc.split("## The checklist, item by item", 1)[1].split("\n## ", 1)[0]
    policies = doc.split("\n## Policies\n", 1)[1].split("\n## ", 1)[0]
    for p in pack.info().policies:
        assert f"`{p.name}`" in checklist, f"docs/policies.md's checklist table does not map {p.name}"
        assert f"| `{p.name}` |" in policies, f"docs/policies.md's policy table does not list {p.name}"
    assert "(docs/policies.md#the-checklist-item-by-item)" in (ROOT / "README.md").read_text(), \
        "README.md does not link the checklist-to-policy table"


def test_trusted_sources_publishes_its_config_schema(pack):
    policy = next(p for p in pack.info().policies if p.name == "database-trusted-sources")
    schema = json_format.MessageToDict(policy.configSchema)
    assert schema["properties"]["allowedSources"]["default"] == []


def pins(path: Path) -> dict[str, str]:
    lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
    return dict(line.split("==") for line in lines if "==" in line)


def test_pack_requirements_are_pinned_like_the_program():
    pack_pins = pins(ROOT / "policies" / "requirements.txt")
    assert pack_pins and pack_pins.items() <= pins(ROOT / "requirements.txt").items()


# --- the shipped stacks --------------------------------------------------------------------------


def test_prod_passes_every_policy(pack, prod):
    assert pack.check(prod.resources) == []


def test_a_stack_with_a_connection_pool_passes_every_policy():
    # n8n's host is the pool's bindable variable, ${postgres.n8n-pool.HOSTNAME}: backed up like the
    # cluster behind it, and only the pool's server connections count against the cluster.
    run = run_stack("prod", {"postgres": {"connectionPool": {"mode": "transaction"}}})
    assert PackInProcess({"all": "mandatory"}).check(run.resources) == []


def test_staging_passes_with_only_its_documented_advisories(staging):
    given = json.loads((ROOT / "policies" / "config" / "staging.json").read_text())
    verdicts = PackInProcess(given).check(staging.resources)
    assert verdicts and all(v.level == "advisory" for v in verdicts)
    assert {v.policy for v in verdicts} == {"database-high-availability", "stateful-resources-protected",
                                            "off-cluster-backups"}


def test_staging_without_its_config_fails_the_production_rules(policies, staging):
    mandatory = {v.policy for v in policies.check(staging.resources) if v.mandatory}
    assert mandatory == {"database-high-availability", "stateful-resources-protected", "off-cluster-backups"}


def test_policies_read_the_properties_as_pulumi_policys_serializer_returns_them(prod):
    # checklist.resources.plain copies JSON-shaped values itself (for speed); every resource, inputs and
    # outputs, with values unknown at preview, must come out as pulumi_policy's own serializer gives them.
    stack = StackEdit(prod)
    all_secrets_unknown(stack)
    for r in stack.as_run().resources:
        for wire in (json_format.MessageToDict(r.properties), json_format.MessageToDict(r.output_properties)):
            props = unknown_checking_proxy(deserialize_properties(wire))
            assert plain(props) == serialize_properties(props), r.name
            json.dumps(plain(props))  # plain dicts and lists all the way down: no proxy left inside


# --- each policy: the ways it fails --------------------------------------------------------------


def every_n8n_process(edit, key, value=None, **kw):
    for name in N8N_PROCESSES:
        edit.set_env(name, key, value, **kw)


def set_token(edit, worker: int, value):
    edit.set_env(f"n8n-worker-{worker}", TOKEN, value)
    edit.set_env(f"n8n-runners-{worker}", TOKEN, value)


def without(d: dict, *keys):
    for k in keys:
        d.pop(k, None)


HUB = "n8nops:dckr_pat_" + STRONG


def pull_with(edit, credentials, skip=None):
    """Give every Docker Hub image these registry credentials (as the program does), but `skip`."""
    for kind in ("services", "workers", "jobs"):
        for c in edit.spec.get(kind, []):
            if c["name"] != skip:
                c["image"]["registryCredentials"] = credentials


def autoscale(component: dict, low=1, high=2):
    component.pop("instanceCount", None)
    component["autoscaling"] = {"minInstanceCount": low, "maxInstanceCount": high,
                                "metrics": {"cpu": {"percent": 80}}}


def app_deps_without(edit, prefix: str):
    app = edit.find("n8n-app")
    deps = {k: [u for u in v if prefix not in u] for k, v in app.property_dependencies.items()}
    edit.options("n8n-app", property_dependencies=deps)


def all_secrets_unknown(edit):
    every_n8n_process(edit, KEY, UNKNOWN)
    for i in (1, 2):
        set_token(edit, i, UNKNOWN)


def sealed_by_app_platform(edit):
    """The App's outputs after `pulumi up`: App Platform's ciphertext for every SECRET value, each
    different (catalog.APP_PLATFORM_CIPHERTEXT)."""
    for component in edit.components():
        for i, entry in enumerate(e for e in component["envs"] if e["type"] == "SECRET"):
            edit.set_env(component["name"], entry["key"], f"EV[1:{component['name']}-{i}:{'c2VhbGVk' * 8}]")


def image(edit, name: str, **fields):
    """Replace a component's image, keeping its tag unless `fields` says otherwise."""
    tag = edit.component(name)["image"].get("tag")
    edit.component(name)["image"] = {"tag": tag, **fields} if "digest" not in fields else dict(fields)


def team_build(edit, name: str, repository: str = "workflow-engine"):
    image(edit, name, registryType="DOCR", repository=repository)


def run(edit, name: str, command):
    edit.component(name)["runCommand"] = command


def n8n_job(edit, command: str):
    """The grant job turned into an n8n job (as a template's `import:workflow` on deploy would be)."""
    job = edit.component("n8n-db-grants")
    job["image"] = dict(edit.component("n8n-main")["image"])
    job["runCommand"] = command
    job["envs"] = [dict(e) for e in edit.component("n8n-worker-1")["envs"]]


def drop_metrics_redirect(edit: StackEdit) -> None:
    edit.spec["ingress"]["rules"] = [r for r in edit.spec["ingress"]["rules"] if "redirect" not in r]


FAILURES = [
    # (policy, case, edit, fragment of the message)
    ("n8n-encryption-key", "missing on a worker", lambda e: e.drop_env("n8n-worker-2", KEY),
     "n8n-worker-2: N8N_ENCRYPTION_KEY is not set"),
    ("n8n-encryption-key", "plain-text env var", lambda e: e.set_env("n8n-main", KEY, type_="GENERAL"),
     "n8n-main: N8N_ENCRYPTION_KEY is type GENERAL"),
    ("n8n-encryption-key", "weak key", lambda e: every_n8n_process(e, KEY, "s3cr3t-but-short"),
     "has 16 characters; it needs at least 32"),
    ("n8n-encryption-key", "placeholder", lambda e: every_n8n_process(e, KEY, "<REQUIRED>"),
     "placeholder copied from a template"),
    ("n8n-encryption-key", "differs between processes", lambda e: e.set_env("n8n-worker-1", KEY, STRONG),
     "differs between n8n processes"),
    ("n8n-encryption-key", "generated key too short (unknown at preview)",
     lambda e: (every_n8n_process(e, KEY, UNKNOWN), e.props("n8n-secrets-encryption-key").update(length=16)),
     "n8n-secrets-encryption-key generates 16 characters"),
    ("n8n-encryption-key", "unknown key from no generator",
     lambda e: (every_n8n_process(e, KEY, UNKNOWN), app_deps_without(e, "RandomPassword")),
     "depends on 0 random generator(s)"),
    ("n8n-encryption-key", "known on one process, computed on another",
     lambda e: e.set_env("n8n-worker-2", KEY, UNKNOWN),
     "differs between n8n processes"),
    ("runner-auth-tokens", "missing on a broker", lambda e: e.drop_env("n8n-worker-1", TOKEN),
     "n8n-worker-1: N8N_RUNNERS_AUTH_TOKEN is not set"),
    ("runner-auth-tokens", "missing on a runner pool", lambda e: e.drop_env("n8n-runners-2", TOKEN),
     "n8n-runners-2: N8N_RUNNERS_AUTH_TOKEN is not set"),
    ("runner-auth-tokens", "plain-text on a runner pool", lambda e: e.set_env("n8n-runners-1", TOKEN, type_="GENERAL"),
     "n8n-runners-1: N8N_RUNNERS_AUTH_TOKEN is type GENERAL"),
    ("runner-auth-tokens", "placeholder token", lambda e: set_token(e, 1, "changeme"), "placeholder"),
    ("runner-auth-tokens", "short token", lambda e: set_token(e, 2, "t" * 20), "has 20 characters"),
    ("runner-auth-tokens", "one token for two brokers", lambda e: set_token(e, 2, e.env_value("n8n-worker-1", TOKEN)),
     "is the same as n8n-worker-1's"),
    ("runner-auth-tokens", "token equals the encryption key", lambda e: set_token(e, 1, e.env_value("n8n-main", KEY)),
     "equals N8N_ENCRYPTION_KEY"),
    ("runner-auth-tokens", "pool and broker disagree", lambda e: e.set_env("n8n-runners-1", TOKEN, STRONG),
     "differs from the token of its broker n8n-worker-1"),
    ("runner-auth-tokens", "unknown tokens, one generator short",
     lambda e: (all_secrets_unknown(e), app_deps_without(e, "runner-token-n8n-worker-2")),
     "depends on 2 random generator(s) of at least 32 characters for 3 distinct secret(s)"),
    ("secret-env-vars", "doadmin password in plain text",
     lambda e: e.set_env("n8n-db-grants", "PGPASSWORD", type_="GENERAL"),
     "n8n-db-grants: PGPASSWORD holds a credential but is type GENERAL"),
    ("secret-env-vars", "license key in plain text",
     lambda e: e.set_env("n8n-main", "N8N_LICENSE_ACTIVATION_KEY", "lic-123"),
     "N8N_LICENSE_ACTIVATION_KEY holds a credential"),
    ("registry-credentials", "one Docker Hub image pulled anonymously",
     lambda e: pull_with(e, HUB, skip="n8n-db-grants"),
     "n8n-db-grants pull from Docker Hub anonymously while n8n-main"),
    ("registry-credentials", "credentials without a username",
     lambda e: pull_with(e, HUB.partition(":")[2]), "registry_credentials has no ':'"),
    ("registry-credentials", "two different credentials",
     lambda e: (pull_with(e, HUB), e.component("n8n-runners-1")["image"].update(registryCredentials="other:" + STRONG)),
     "carry different registry_credentials"),
    ("registry-credentials", "credentials copied into a plain-text env var",
     lambda e: (pull_with(e, HUB), e.set_env("n8n-main", "DOCKER_AUTH", HUB)),
     "n8n-main: DOCKER_AUTH holds the Docker Hub credentials in plain text"),
    ("registry-credentials", "token in a command",
     lambda e: (pull_with(e, HUB),
                e.component("n8n-worker-1").update(runCommand="n8n worker " + HUB.partition(":")[2])),
     "n8n-worker-1: run_command holds the Docker Hub credentials"),
    ("database-high-availability", "single-node production database",
     lambda e: e.props("n8n-postgres-cluster").update(nodeCount=1),
     "n8n-postgres-cluster runs 1 node"),
    ("database-high-availability", "standby on a 1 GiB plan",
     lambda e: e.props("n8n-valkey-cluster").update(size="db-s-1vcpu-1gb"),
     "db-s-1vcpu-1gb allows no standby nodes"),
    ("database-high-availability", "node count unknown at preview",
     lambda e: e.props("n8n-postgres-cluster").update(nodeCount=UNKNOWN),
     "not known at preview"),
    ("valkey-noeviction", "allkeys-lru", lambda e: e.props("n8n-valkey-cluster").update(evictionPolicy="allkeys_lru"),
     "eviction policy is 'allkeys_lru'"),
    ("valkey-noeviction", "eviction policy left to the default",
     lambda e: without(e.props("n8n-valkey-cluster"), "evictionPolicy"),
     "eviction policy is not set"),
    ("valkey-noeviction", "eviction policy unknown",
     lambda e: e.props("n8n-valkey-cluster").update(evictionPolicy=UNKNOWN),
     "not known at preview"),
    ("managed-database-backups", "SQLite in the container", lambda e: e.drop_env("n8n-worker-1", "DB_TYPE"),
     "n8n-worker-1: DB_TYPE is not set"),
    ("managed-database-backups", "self-run database host",
     lambda e: every_n8n_process(e, "DB_POSTGRESDB_HOST", "pg.internal.example.com"),
     "not the HOSTNAME of an attached"),
    ("managed-database-backups", "a pool of a cluster the app does not attach",
     lambda e: every_n8n_process(e, "DB_POSTGRESDB_HOST", "${elsewhere.n8n-pool.HOSTNAME}"),
     "'${elsewhere.n8n-pool.HOSTNAME}', not the HOSTNAME of an attached managed PostgreSQL cluster"),
    ("managed-database-backups", "the queue's cluster as database",
     lambda e: every_n8n_process(e, "DB_POSTGRESDB_HOST", "${valkey.HOSTNAME}"),
     "not the HOSTNAME of an attached managed PostgreSQL cluster"),
    ("managed-database-backups", "dev database", lambda e: e.spec["databases"][0].update(production=False),
     "dev databases have no backups"),
    ("database-trusted-sources", "cluster without trusted sources", lambda e: e.remove("n8n-valkey-trusted-sources"),
     "n8n-valkey-cluster has no DatabaseFirewall"),
    ("database-trusted-sources", "open firewall",
     lambda e: e.props("n8n-postgres-trusted-sources").update(rules=[{"type": "ip_addr", "value": "0.0.0.0/0"}]),
     "admits 0.0.0.0/0, a public address range"),
    ("database-trusted-sources", "a public office range",
     lambda e: e.props("n8n-postgres-trusted-sources")["rules"].append({"type": "ip_addr", "value": "203.0.113.0/24"}),
     "admits 203.0.113.0/24"),
    ("database-trusted-sources", "a tag nobody allowed",
     lambda e: e.props("n8n-valkey-trusted-sources")["rules"].append({"type": "tag", "value": "bastion"}),
     "admits tag 'bastion'"),
    ("database-trusted-sources", "another app",
     lambda e: e.options("n8n-postgres-trusted-sources", property_dependencies={
         "clusterId": [e.find("n8n-postgres-cluster").urn], "rules": []}),
     "not an App of this stack"),
    ("database-trusted-sources", "no rules", lambda e: e.props("n8n-valkey-trusted-sources").update(rules=[]),
     "has no rules"),
    ("database-trusted-sources", "rule type unknown at preview",
     lambda e: e.props("n8n-valkey-trusted-sources").update(rules=[{"type": UNKNOWN, "value": "x"}]),
     "whose type is not known at preview"),
    ("private-network", "cluster outside the VPC",
     lambda e: without(e.props("n8n-postgres-cluster"), "privateNetworkUuid"),
     "n8n-postgres-cluster is not attached to a VPC"),
    ("private-network", "VPC-only host from an app outside the VPC",
     lambda e: e.set_env("n8n-worker-2", "QUEUE_BULL_REDIS_HOST",
                         "private-n8n-prod-valkey-do-user-0.db.ondigitalocean.com"),
     "n8n-worker-2: QUEUE_BULL_REDIS_HOST is a private host, reachable only inside the VPC"),
    ("private-network", "app attached to another VPC", lambda e: e.spec.update(vpcs=[{"id": "vpc-elsewhere"}]),
     "not attached to the same VPC"),
    ("database-tls", "TLS verification off",
     lambda e: e.set_env("n8n-worker-2", "DB_POSTGRESDB_SSL_REJECT_UNAUTHORIZED", "false"),
     "n8n-worker-2: DB_POSTGRESDB_SSL_REJECT_UNAUTHORIZED is false"),
    ("database-tls", "TLS off", lambda e: e.drop_env("n8n-main", "DB_POSTGRESDB_SSL_ENABLED"),
     "n8n-main: DB_POSTGRESDB_SSL_ENABLED is not true"),
    ("database-tls", "no CA", lambda e: e.drop_env("n8n-worker-1", "DB_POSTGRESDB_SSL_CA"),
     "DB_POSTGRESDB_SSL_CA is not set"),
    ("database-tls", "Valkey without TLS", lambda e: e.set_env("n8n-main", "QUEUE_BULL_REDIS_TLS", "false"),
     "QUEUE_BULL_REDIS_TLS is not true"),
    ("database-tls", "Valkey certificate not verified",
     lambda e: e.set_env("n8n-worker-1", "QUEUE_BULL_REDIS_TLS_VALIDATE_CERTIFICATE", "false"),
     "QUEUE_BULL_REDIS_TLS_VALIDATE_CERTIFICATE is false"),
    ("database-tls", "psql without verification", lambda e: e.set_env("n8n-db-grants", "PGSSLMODE", "require"),
     "PGSSLMODE is 'require'"),
    ("database-tls", "flag unknown at preview",
     lambda e: e.set_env("n8n-main", "DB_POSTGRESDB_SSL_REJECT_UNAUTHORIZED", UNKNOWN),
     "unknown at preview"),
    ("database-access-roles", "n8n as doadmin", lambda e: every_n8n_process(e, "DB_POSTGRESDB_USER", "doadmin"),
     "n8n-main: n8n connects as doadmin"),
    ("database-access-roles", "binding without its own user", lambda e: without(e.spec["databases"][0], "dbUser"),
     "no dedicated dbUser"),
    ("database-access-roles", "doadmin outside the pre-deploy job",
     lambda e: e.set_env("n8n-worker-1", "PGUSER", "doadmin"),
     "n8n-worker-1: only the pre-deploy job"),
    ("database-access-roles", "user computed at apply",
     lambda e: e.set_env("n8n-worker-2", "DB_POSTGRESDB_USER", UNKNOWN),
     "DB_POSTGRESDB_USER is not known at preview"),
    ("runner-topology", "broker in internal mode", lambda e: e.set_env("n8n-worker-1", "N8N_RUNNERS_MODE", "internal"),
     "n8n-worker-1 executes workflows with N8N_RUNNERS_MODE 'internal'"),
    ("runner-topology", "runner pool behind an autoscaled worker", lambda e: autoscale(e.component("n8n-worker-2")),
     "n8n-worker-2 autoscales"),
    ("runner-topology", "broker with two instances", lambda e: e.component("n8n-worker-1").update(instanceCount=2),
     "n8n-worker-1 runs 2 instances"),
    ("runner-topology", "pool pointing nowhere",
     lambda e: e.set_env("n8n-runners-1", "N8N_RUNNERS_TASK_BROKER_URI", "http://n8n-worker:5679"),
     "points at 'n8n-worker', which is no n8n service"),
    ("runner-topology", "pool on the wrong port",
     lambda e: e.set_env("n8n-runners-1", "N8N_RUNNERS_TASK_BROKER_URI", "http://n8n-worker-1:5678"),
     "points at port 5678"),
    ("runner-topology", "pool pointing at main, which starts no broker",
     lambda e: e.set_env("n8n-runners-2", "N8N_RUNNERS_TASK_BROKER_URI", "http://n8n-main:5679"),
     "starts no task broker"),
    ("runner-topology", "worker left without runners",
     lambda e: e.set_env("n8n-runners-2", "N8N_RUNNERS_TASK_BROKER_URI", "http://n8n-worker-1:5679"),
     "n8n-worker-2 executes workflows but no runner pool points at it"),
    ("runner-topology", "offload off without main's runners",
     lambda e: e.set_env("n8n-main", "OFFLOAD_MANUAL_EXECUTIONS_TO_WORKERS", "false"),
     "n8n-main executes workflows"),
    ("runner-topology", "broker port not exposed", lambda e: e.component("n8n-worker-1").update(internalPorts=[5678]),
     "n8n-worker-1 does not expose the broker port 5679"),
    ("runner-topology", "broker URI unknown at preview",
     lambda e: e.set_env("n8n-runners-1", "N8N_RUNNERS_TASK_BROKER_URI", UNKNOWN),
     "is not known at preview"),
    ("n8n-components-recognised", "own build without a run_command",
     lambda e: (team_build(e, "n8n-main"), without(e.component("n8n-main"), "runCommand")),
     "n8n-main looks like n8n (EXECUTIONS_MODE"),
    ("n8n-components-recognised", "worker started from a shell script",
     lambda e: run(e, "n8n-worker-1", "sh -c 'sleep 5 && n8n worker'"), "inside a shell script"),
    ("n8n-components-recognised", "n8n's settings on the command line, out of sight",
     lambda e: run(e, "n8n-worker-2", "DB_POSTGRESDB_SSL_REJECT_UNAUTHORIZED=false n8n worker"),
     "sets DB_POSTGRESDB_SSL_REJECT_UNAUTHORIZED on its command line"),
    ("n8n-components-recognised", "n8n's entrypoint given n8n twice",
     lambda e: run(e, "n8n-worker-1", "/docker-entrypoint.sh n8n worker"), "which n8n refuses"),
    ("n8n-components-recognised", "one-shot n8n command as a service",
     lambda e: run(e, "n8n-worker-1", "n8n import:workflow --input=/w.json"),
     "not one of n8n's long-running commands"),
    ("n8n-components-recognised", "n8n's settings on another program",
     lambda e: run(e, "n8n-worker-2", "python3 /srv/worker.py"), "neither n8n nor its runner launcher"),
    ("n8n-components-recognised", "a job that serves n8n", lambda e: n8n_job(e, "n8n start"),
     "is a job that runs `n8n start`"),
    ("n8n-components-recognised", "n8n in the runners image",
     lambda e: image(e, "n8n-worker-1", registryType="DOCKER_HUB", registry="n8nio", repository="runners"),
     "which has no n8n in it"),
    ("n8n-components-recognised", "run_command unknown at preview", lambda e: run(e, "n8n-worker-1", UNKNOWN),
     "run_command is not known at preview"),
    ("image-sources", "n8n from an unlisted Docker Hub account",
     lambda e: image(e, "n8n-worker-1", registryType="DOCKER_HUB", registry="n8n-community-builds",
                     repository="n8n"),
     "n8n-worker-1 runs n8n from docker.io/n8n-community-builds/n8n:2.41.1, which is not an allowed image"),
    ("image-sources", "runners from another GHCR owner",
     lambda e: image(e, "n8n-runners-2", registryType="GHCR", registry="acme", repository="runners"),
     "n8n-runners-2 runs n8n's runner launcher from ghcr.io/acme/runners:2.41.1"),
    ("image-sources", "a team build nobody listed", lambda e: team_build(e, "n8n-main"),
     'add "registry.digitalocean.com/<your registry>/workflow-engine" to `image-sources.allowedImages`'),
    ("image-sources", "n8n built from source",
     lambda e: (without(e.component("n8n-worker-2"), "image"),
                e.component("n8n-worker-2").update(github={"repo": "acme/n8n", "branch": "main"})),
     "n8n-worker-2 runs n8n built from its github repository"),
    ("image-sources", "another registry under registry_type DOCKER_HUB",
     lambda e: image(e, "n8n-main", registryType="DOCKER_HUB", registry="quay.io", repository="n8nio/n8n"),
     "its image's registry 'quay.io' is not docker.io"),
    ("image-sources", "registry unknown at preview",
     lambda e: image(e, "n8n-main", registryType="DOCKER_HUB", registry=UNKNOWN, repository="n8n"),
     "registry or repository is not known at preview"),
    ("image-pinning", "n8n pinned partly by digest",
     lambda e: image(e, "n8n-worker-2", registryType="DOCKER_HUB", registry="n8nio", repository="n8n",
                     digest="sha256:" + "b" * 64),
     "pinned partly by digest (n8n-worker-2) and partly by tag"),
    ("image-pinning", "a team build of another release",
     lambda e: e.component("n8n-worker-1")["image"].update(tag="2.40.0-acme.1"),
     "n8n-worker-1 2.40.0"),
    ("n8n-deprecated-settings", "runners 'enabled' the 1.x way",
     lambda e: e.set_env("n8n-worker-1", "N8N_RUNNERS_ENABLED", "true"),
     "n8n-worker-1: N8N_RUNNERS_ENABLED: n8n 2.41 no longer reads it"),
    ("n8n-deprecated-settings", "WEBHOOK_URL", lambda e: every_n8n_process(e, "WEBHOOK_URL", "${APP_URL}/"),
     "WEBHOOK_URL: deprecated; set N8N_WEBHOOK_URL"),
    ("image-pinning", "latest tag", lambda e: e.component("n8n-runners-1")["image"].update(tag="latest"),
     "runners:latest is a floating tag"),
    ("image-pinning", "no tag", lambda e: without(e.component("n8n-main")["image"], "tag"), "has no tag"),
    ("image-pinning", "mismatched runner tag", lambda e: e.component("n8n-runners-2")["image"].update(tag="2.40.0"),
     "n8n and its runners run different releases"),
    ("image-pinning", "n8n on a minor-version tag", lambda e: e.component("n8n-worker-1")["image"].update(tag="2.41"),
     "n8n:2.41 is not an exact n8n release"),
    ("image-pinning", "job on latest", lambda e: e.component("n8n-db-grants")["image"].update(tag="latest"),
     "postgres:latest is a floating tag"),
    ("image-pinning", "tag unknown at preview", lambda e: e.component("n8n-main")["image"].update(tag=UNKNOWN),
     "image tag is not known at preview"),
    ("main-single-instance", "main with 2 instances", lambda e: e.component("n8n-main").update(instanceCount=2),
     "n8n-main runs 2 instances"),
    ("main-single-instance", "autoscaled main", lambda e: autoscale(e.component("n8n-main")), "n8n-main autoscales"),
    ("main-single-instance", "a second main", lambda e: without(e.component("n8n-worker-2"), "runCommand"),
     "2 services run n8n as main"),
    ("main-single-instance", "multi-main without a license",
     lambda e: (e.component("n8n-main").update(instanceCount=2),
                every_n8n_process(e, "N8N_MULTI_MAIN_SETUP_ENABLED", "true")),
     "n8n-main runs 2 instances"),
    ("autoscaling-dedicated-sizes", "autoscaling on apps-s-*",
     lambda e: (autoscale(e.component("n8n-runners-1")),
                e.component("n8n-runners-1").update(instanceSizeSlug="apps-s-1vcpu-1gb")),
     "n8n-runners-1 autoscales on apps-s-1vcpu-1gb"),
    ("autoscaling-dedicated-sizes", "instance count with autoscaling",
     lambda e: (autoscale(e.component("n8n-runners-2")), e.component("n8n-runners-2").update(instanceCount=1)),
     "sets instance_count together with autoscaling"),
    ("autoscaling-dedicated-sizes", "min above max", lambda e: autoscale(e.component("n8n-runners-1"), 3, 2),
     "min_instance_count <= max_instance_count"),
    ("instance-sizes-planned", "size left to App Platform",
     lambda e: without(e.component("n8n-worker-1"), "instanceSizeSlug"),
     "n8n-worker-1: instance_size_slug is not set"),
    ("instance-sizes-planned", "size not in the catalog",
     lambda e: e.component("n8n-main").update(instanceSizeSlug="apps-d-64vcpu"),
     "'apps-d-64vcpu', not an App Platform size"),
    ("instance-sizes-planned", "fixed size scaled out",
     lambda e: e.component("n8n-runners-1").update(instanceSizeSlug="apps-s-1vcpu-0.5gb", instanceCount=2),
     "apps-s-1vcpu-0.5gb is a fixed size that runs one instance, not 2"),
    ("instance-sizes-planned", "unplanned database size",
     lambda e: e.props("n8n-postgres-cluster").update(size="db-s-3vcpu-6gb"),
     "size 'db-s-3vcpu-6gb' is not a planned managed database size"),
    ("connection-budget", "pools larger than the cluster allows",
     lambda e: (e.props("n8n-postgres-cluster").update(size="db-s-1vcpu-2gb", nodeCount=2),
                every_n8n_process(e, "DB_POSTGRESDB_POOL_SIZE", "20")),
     "db-s-1vcpu-2gb allows 47"),
    ("connection-budget", "pool size unknown at preview",
     lambda e: e.set_env("n8n-worker-1", "DB_POSTGRESDB_POOL_SIZE", UNKNOWN),
     "cannot count PostgreSQL connections"),
    ("runner-capacity", "runners take fewer tasks than the worker runs executions",
     lambda e: e.set_env("n8n-runners-1", "N8N_RUNNERS_MAX_CONCURRENCY", "2"),
     "n8n-runners-1: each worker runs up to 10 executions"),
    ("runner-capacity", "worker concurrency raised past its pool",
     lambda e: e.set_env("n8n-worker-2", "N8N_CONCURRENCY_PRODUCTION_LIMIT", "30"),
     "takes at most 10 Code-node tasks at once"),
    ("monthly-budget", "maximum cost over the budget", lambda e: e.props("n8n-budget").update(monthlyBudget=300),
     "costs $375.00/month, $75.00 over its budget of $300.00"),
    ("monthly-budget", "a stack price override pushes it over",
     lambda e: e.props("n8n-budget")["prices"]["app"].update({"apps-d-1vcpu-2gb": 100}),
     "over its budget of $450.00"),
    ("monthly-budget", "autoscaled runners priced at their maximum",
     lambda e: autoscale(e.component("n8n-runners-2"), 1, 5), "costs $511.00/month"),
    ("monthly-budget", "budget unknown at preview", lambda e: e.props("n8n-budget").update(monthlyBudget=UNKNOWN),
     "cannot price the stack"),
    ("monthly-budget", "instance count unknown at preview",
     lambda e: e.component("n8n-runners-2").update(instanceCount=UNKNOWN),
     "cannot price the stack: the instance count of n8n-runners-2 is not known at preview"),
    ("health-checks", "main without a health check", lambda e: without(e.component("n8n-main"), "healthCheck"),
     "n8n-main has no HTTP healthCheck"),
    ("health-checks", "TCP-only check", lambda e: without(e.component("n8n-worker-1")["healthCheck"], "httpPath"),
     "n8n-worker-1 has no HTTP healthCheck"),
    ("health-checks", "main routed on liveness", lambda e: e.component("n8n-main")["healthCheck"].update(
        httpPath="/healthz"), "n8n-main: its healthCheck is on /healthz, which answers before n8n is ready"),
    ("health-checks", "main without liveness", lambda e: without(e.component("n8n-main"), "livenessHealthCheck"),
     "n8n-main has no HTTP livenessHealthCheck"),
    ("health-checks", "liveness on readiness", lambda e: e.component("n8n-worker-2")["livenessHealthCheck"].update(
        httpPath="/healthz/readiness"), "would restart every n8n process at once"),
    ("health-checks", "worker health server off",
     lambda e: e.set_env("n8n-worker-2", "QUEUE_HEALTH_CHECK_ACTIVE", "false"),
     "n8n-worker-2: QUEUE_HEALTH_CHECK_ACTIVE is not true"),
    ("health-checks", "runner pool without liveness",
     lambda e: without(e.component("n8n-runners-1"), "livenessHealthCheck"),
     "n8n-runners-1 has no HTTP livenessHealthCheck"),
    ("graceful-shutdown", "shutdown longer than the grace period",
     lambda e: e.set_env("n8n-worker-1", "N8N_GRACEFUL_SHUTDOWN_TIMEOUT", "60"),
     "kills it after 45 s"),
    ("graceful-shutdown", "App Platform's default grace period too short",
     lambda e: (without(e.component("n8n-main"), "termination"),
                e.set_env("n8n-main", "N8N_GRACEFUL_SHUTDOWN_TIMEOUT", "110")),
     "kills it after 120 s"),
    ("graceful-shutdown", "timeout unknown at preview",
     lambda e: e.set_env("n8n-main", "N8N_GRACEFUL_SHUTDOWN_TIMEOUT", UNKNOWN),
     "not a known number"),
    ("app-alerts", "no app alerts", lambda e: without(e.spec, "alerts"), "the app has no DEPLOYMENT_FAILED alert"),
    ("app-alerts", "alerts to no one", lambda e: [a.pop("destinations") for a in e.spec["alerts"]],
     "the DEPLOYMENT_FAILED, DOMAIN_FAILED alert(s) have no destination"),
    ("app-alerts", "component without restart alert",
     lambda e: e.component("n8n-runners-1").update(alerts=e.component("n8n-runners-1")["alerts"][:2]),
     "n8n-runners-1 has no RESTART_COUNT alert"),
    ("app-alerts", "domain without DOMAIN_FAILED",
     lambda e: e.spec.update(domainNames=[{"name": "n8n.example.com", "type": "PRIMARY"}], alerts=e.spec["alerts"][:1]),
     "has no DOMAIN_FAILED alert"),
    ("database-alerts", "cluster without disk alert", lambda e: e.remove("n8n-postgres-alert-disk"),
     "n8n-postgres-cluster has no disk alert"),
    ("database-alerts", "disabled alert", lambda e: e.props("n8n-valkey-alert-memory").update(enabled=False),
     "n8n-valkey-cluster has no memory alert"),
    ("database-alerts", "alert without destinations",
     lambda e: e.props("n8n-valkey-alert-cpu").update(alerts={"emails": [], "slacks": []}),
     "n8n-valkey-alert-cpu notifies no one"),
    ("stateful-resources-protected", "unprotected cluster", lambda e: e.options("n8n-postgres-cluster", protect=False),
     "n8n-postgres-cluster is not protected"),
    ("stateful-resources-protected", "unprotected database", lambda e: e.options("n8n-postgres-db", protect=False),
     "n8n-postgres-db is not protected"),
    ("stateful-resources-protected", "unprotected encryption key",
     lambda e: e.options("n8n-secrets-encryption-key", protect=False),
     "n8n-secrets-encryption-key is not protected"),
    ("metrics-not-public", "/metrics left to main's / rule", lambda e: drop_metrics_redirect(e),
     "routes /metrics to n8n-main"),
    ("execution-pruning", "pruning off", lambda e: e.set_env("n8n-main", "EXECUTIONS_DATA_PRUNE", "false"),
     "n8n-main has EXECUTIONS_DATA_PRUNE=false"),
    ("off-cluster-backups", "no backup worker",
     lambda e: e.spec.update(workers=[w for w in e.spec["workers"] if w["name"] != "n8n-backup"]),
     "has no backup component"),
    ("off-cluster-backups", "dumps not encrypted", lambda e: e.set_env("n8n-backup", "BACKUP_AGE_RECIPIENT", ""),
     "n8n-backup: BACKUP_AGE_RECIPIENT is not an age public key"),
    ("off-cluster-backups", "a bucket the stack does not create",
     lambda e: e.set_env("n8n-backup", "BACKUP_BUCKET", "someone-elses"), "which this stack does not create"),
    ("off-cluster-backups", "bucket without versioning",
     lambda e: e.props("n8n-backups-bucket").update(versioning={"enabled": False}), "keeps no versions"),
    ("off-cluster-backups", "bucket that never expires dumps",
     lambda e: e.props("n8n-backups-bucket").update(lifecycleRules=[]), "has no enabled lifecycle rule"),
    ("off-cluster-backups", "public bucket",
     lambda e: e.props("n8n-backups-bucket").update(acl="public-read"), "is 'public-read', not private"),
]


def assert_caught(sender, prod, policy, case, edit, fragment) -> tuple[StackEdit, list]:
    """The edited stack and everything `sender` said of it, once `policy` is shown to catch the case."""
    stack = StackEdit(prod)
    edit(stack)
    said = stack.send(sender)
    verdicts = [v for v in said if v.policy == policy]
    assert verdicts, f"{policy} did not catch: {case}"
    assert any(fragment in v.message for v in verdicts), [v.message for v in verdicts]
    level = "advisory" if policy in ADVISORY_BY_DEFAULT else "mandatory"
    assert all(v.level == level for v in verdicts)
    return stack, said


# The first case of each policy goes through the running pack, which holds the in-process call to the same
# verdicts (below); every other case is called in-process.
FIRST_FAILURES = list({p: (p, c, e, f) for p, c, e, f in reversed(FAILURES)}.values())[::-1]
OTHER_FAILURES = [failure for failure in FAILURES if failure not in FIRST_FAILURES]


@pytest.mark.parametrize("policy,case,edit,fragment", OTHER_FAILURES,
                         ids=[f"{p}: {c}" for p, c, _, _ in OTHER_FAILURES])
def test_policy_fails(policies, prod, policy, case, edit, fragment):
    assert_caught(policies, prod, policy, case, edit, fragment)


@pytest.mark.parametrize("policy,case,edit,fragment", FIRST_FAILURES,
                         ids=[f"{p}: {c}" for p, c, _, _ in FIRST_FAILURES])
def test_policy_fails_in_the_running_pack(pack, policies, prod, policy, case, edit, fragment):
    stack, said = assert_caught(pack, prod, policy, case, edit, fragment)
    assert stack.send(policies) == said, "the in-process call and the running pack disagree"


def test_every_policy_has_failure_cases(pack):
    from test_observability import LOG_SINK_FAILURES  # cases on stacks with a database log sink

    covered = {p for p, *_ in FAILURES} | {p for p, *_ in LOG_SINK_FAILURES}
    assert covered == {p.name for p in pack.info().policies}


# --- compliant variations pass, including values unknown at preview ------------------------------

PASSES = [
    # (case, edit); the whole stack must stay free of verdicts
    ("every generated secret unknown at preview (first preview of a new stack)", all_secrets_unknown),
    ("secret values as App Platform's ciphertext (the App's outputs after `pulumi up`)", sealed_by_app_platform),
    ("firewall trusts the app whose id is unknown at preview",
     lambda e: [r.update(value=UNKNOWN) for n in ("n8n-postgres-trusted-sources", "n8n-valkey-trusted-sources")
                for r in e.props(n)["rules"]]),
    ("cluster VPC ids unknown at preview, app outside the VPC",
     lambda e: [e.props(c).update(privateNetworkUuid=UNKNOWN) for c in ("n8n-postgres-cluster", "n8n-valkey-cluster")]),
    ("Docker Hub credentials on every image", lambda e: pull_with(e, HUB)),
    ("Docker Hub credentials computed at apply", lambda e: pull_with(e, UNKNOWN)),
    ("alert destinations computed at apply", lambda e: [a.update(destinations=UNKNOWN) for a in e.spec["alerts"]]),
    ("licensed multi-main",
     lambda e: (e.component("n8n-main").update(instanceCount=2),
                every_n8n_process(e, "N8N_MULTI_MAIN_SETUP_ENABLED", "true"),
                e.set_env("n8n-main", "N8N_LICENSE_ACTIVATION_KEY", "lic-" + "0" * 30, type_="SECRET"))),
    ("runner pool autoscaled on a dedicated size", lambda e: autoscale(e.component("n8n-runners-1"), 1, 3)),
    ("grace period left to App Platform's default 120 s", lambda e: without(e.component("n8n-worker-1"),
     "termination")),
    ("image pinned by digest",
     lambda e: e.component("n8n-db-grants")["image"].update(tag="", digest="sha256:" + "a" * 64)),
    ("n8n and its runners pinned by digest",
     lambda e: [image(e, n, registryType="GHCR", registry="n8n-io", repository=r, digest=d)
                for ns, r, d in ((N8N_PROCESSES, "n8n", "sha256:" + "c" * 64),
                                 (("n8n-runners-1", "n8n-runners-2"), "runners", "sha256:" + "d" * 64))
                for n in ns]),
    ("workers started through tini and n8n's entrypoint, main through node",
     lambda e: (run(e, "n8n-worker-1", "tini -- /docker-entrypoint.sh worker"),
                run(e, "n8n-worker-2", "/docker-entrypoint.sh worker"),
                run(e, "n8n-main", "node --max-old-space-size=1536 /usr/local/lib/node_modules/n8n/bin/n8n start"))),
    ("runner pools that run the launcher explicitly",
     lambda e: [run(e, p, "/usr/local/bin/task-runner-launcher javascript") for p in ("n8n-runners-1",
                                                                                      "n8n-runners-2")]),
    ("a Docker Hub pull credential on every image",
     lambda e: [c["image"].update(registryCredentials="ci-bot:dckr_pat_" + "x" * 27)
                for kind in ("services", "workers", "jobs") for c in e.spec[kind]]),
]


@pytest.mark.parametrize("case,edit", PASSES, ids=[c for c, _ in PASSES])
def test_compliant_variation_passes(policies, prod, case, edit):
    stack = StackEdit(prod)
    edit(stack)
    assert stack.send(policies) == []


def test_offload_off_with_mains_own_runner_pool_passes(policies):
    run = run_stack("prod", {"n8n": {"offloadManualExecutions": False}})
    assert policies.check(run.resources) == []


def test_an_allowed_private_source_passes_only_when_configured(pack, policies, prod):
    stack = StackEdit(prod)
    stack.props("n8n-postgres-trusted-sources")["rules"].append({"type": "ip_addr", "value": "10.110.16.5"})
    assert {v.policy for v in stack.send(policies)} == {"database-trusted-sources"}
    given = {"database-trusted-sources": {"allowedSources": ["ip_addr:10.110.16.5"]}}
    assert stack.send(PackInProcess(given)) == []
    with configured(pack, given):  # the running pack reads a policy's properties the same way
        assert stack.send(pack) == []


def test_a_public_range_stays_forbidden_even_when_configured(prod):
    stack = StackEdit(prod)
    stack.props("n8n-postgres-trusted-sources")["rules"].append({"type": "ip_addr", "value": "0.0.0.0/0"})
    allowed = PackInProcess({"database-trusted-sources": {"allowedSources": ["ip_addr:0.0.0.0/0"]}})
    assert [v.policy for v in stack.send(allowed)] == ["database-trusted-sources"]


def test_runner_tokens_are_not_required_to_be_protected(policies, prod):
    stack = StackEdit(prod)
    token = stack.find("n8n-secrets-runner-token-n8n-worker-1")
    assert not token.protect
    stack.options(token.name, protect=False)
    assert stack.send(policies) == []


def test_a_pull_credential_never_appears_in_a_verdict(policies, prod):
    stack = StackEdit(prod)
    credential = "ci-bot:dckr_pat_" + "z" * 27
    image(stack, "n8n-worker-1", registryType="DOCKER_HUB", registry="n8n-community-builds", repository="n8n",
          tag="latest", registryCredentials=credential)
    verdicts = stack.send(policies)
    assert {"image-sources", "image-pinning"} <= {v.policy for v in verdicts}
    assert not [v for v in verdicts if "dckr_pat" in v.message or "ci-bot" in v.message]


@pytest.mark.parametrize("hide", ["services", "envs"])
def test_an_unreadable_app_spec_fails_rather_than_passing_silently(policies, prod, hide):
    stack = StackEdit(prod)
    if hide == "services":
        stack.spec["services"] = UNKNOWN
    else:
        stack.component("n8n-worker-1")["envs"] = UNKNOWN
    verdicts = [v for v in stack.send(policies) if v.mandatory]
    assert {"n8n-encryption-key", "runner-topology", "database-tls", "health-checks"} <= {v.policy for v in verdicts}
    assert all("not known at preview" in v.message for v in verdicts)


# --- enforcement levels from the policy-pack config ----------------------------------------------


# Each also holds the in-process calls to the running pack's reading of the same config.


def test_config_downgrades_and_disables_policies(pack, prod):
    stack = StackEdit(prod)
    stack.props("n8n-postgres-cluster").update(nodeCount=1)
    stack.options("n8n-postgres-cluster", protect=False)
    given = {"database-high-availability": "advisory",
             "stateful-resources-protected": {"enforcementLevel": "disabled"}}
    with configured(pack, given):
        verdicts = stack.send(pack)
    assert [(v.policy, v.level) for v in verdicts] == [("database-high-availability", "advisory")]
    assert stack.send(PackInProcess(given)) == verdicts


def test_config_all_sets_every_level(pack, prod):
    stack = StackEdit(prod)
    stack.props("n8n-valkey-cluster").update(evictionPolicy="allkeys_lru")
    with configured(pack, {"all": "advisory"}):
        verdicts = stack.send(pack)
    assert {v.level for v in verdicts} == {"advisory"}
    assert stack.send(PackInProcess({"all": "advisory"})) == verdicts


def test_connection_budget_can_be_made_mandatory(prod):
    stack = StackEdit(prod)
    stack.props("n8n-postgres-cluster").update(size="db-s-1vcpu-2gb")
    every_n8n_process(stack, "DB_POSTGRESDB_POOL_SIZE", "20")
    mandatory = PackInProcess({"connection-budget": "mandatory"})
    verdicts = [v for v in stack.send(mandatory) if v.policy == "connection-budget"]
    assert verdicts and verdicts[0].mandatory
    assert ("(n8n-main 20×1 + n8n-worker-1 20×1 + n8n-worker-2 20×1) = 60 connections × 2 while a rolling "
            "deploy runs old and new instances + 5 headroom = 125; db-s-1vcpu-2gb allows 47") in verdicts[0].message


def test_connection_budget_counts_the_pgbouncer_pool_n8n_connects_through():
    # 6 worker pairs with 8 connections each cannot fit a 2 GiB cluster directly ((1 + 6) × 8 × 2 + 5 = 117
    # > 47), but through a transaction-mode pool only the pool's server connections count.
    overrides = {"workers": {"pairs": 6}, "n8n": {"dbPoolSize": 8},
                 "postgres": {"size": "db-s-1vcpu-2gb", "connectionPool": {"mode": "transaction"}}}
    stack = StackEdit(run_stack("prod", overrides))
    mandatory = PackInProcess({"connection-budget": "mandatory"})
    assert not [v for v in stack.send(mandatory) if v.policy == "connection-budget"]
    # The same resources with one process connecting to the cluster directly: every connection counts.
    stack.set_env("n8n-worker-3", "DB_POSTGRESDB_HOST", "${postgres.HOSTNAME}")
    verdicts = [v for v in stack.send(mandatory) if v.policy == "connection-budget"]
    assert verdicts and "= 117; db-s-1vcpu-2gb allows 47" in verdicts[0].message
