"""Stack tests: `__main__.py` under mocks with the real stack files, asserting on what it registers."""

from collections import Counter

import pulumi
import pytest

from offline.engine import run_program
from platform_model import catalog
from platform_model.catalog import APP, CLUSTER, FIREWALL, VPC
from platform_model.catalog import RANDOM_PASSWORD as PASSWORD
from stackrun import app_spec, component, components, env_entry, env_of, run_stack, stack_config

N8N_PROCESS_ENV = "N8N_ENCRYPTION_KEY"


def broker_services(spec):
    return [s for s in spec["services"] if env_of(s).get("N8N_RUNNERS_MODE") == "external"]


def runner_pools(spec):
    return [w for w in spec.get("workers", []) if w["image"]["repository"] == "runners"]


def n8n_processes(spec):
    return [s for s in spec["services"] if s["image"]["repository"] == "n8n"]


def test_prod_registers_the_expected_resources(prod):
    counts = Counter(r.type for r in prod.resources)
    assert counts == {
        "pulumi:pulumi:Stack": 1,  # the stack itself, a resource to the engine; its outputs are the exports
        "n8n-platform:network:Network": 1,
        "n8n-platform:secrets:Secrets": 1,
        "n8n-platform:postgres:Postgres": 1,
        "n8n-platform:valkey:Valkey": 1,
        "n8n-platform:app:N8nApp": 1,
        "n8n-platform:cost:Budget": 1,  # carries cost.monthlyBudget to the policy pack
        VPC: 1,
        CLUSTER: 2,
        "digitalocean:index/databaseDb:DatabaseDb": 1,
        "digitalocean:index/databaseUser:DatabaseUser": 1,
        "digitalocean:index/monitorAlert:MonitorAlert": 6,  # cpu, memory, disk per cluster
        APP: 1,
        FIREWALL: 2,
        PASSWORD: 3,  # the encryption key and one runner token per worker pair
        "n8n-platform:uptime:Uptime": 1,
        "digitalocean:index/uptimeCheck:UptimeCheck": 1,  # main's public /healthz from outside
        "digitalocean:index/uptimeAlert:UptimeAlert": 3,  # down, latency, TLS expiry
        "n8n-platform:backups:BackupStorage": 1,
        catalog.SPACES_BUCKET: 1,
        catalog.SPACES_KEY: 2,  # the backup worker's writer, the verifier's reader
    }


def test_every_resource_is_parented_by_a_component(prod):
    components_ = {r.urn for r in prod.resources if not r.custom}
    for r in prod.resources:
        if r.custom:
            assert r.parent in components_, f"{r.name} is not inside a component"


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_clusters_are_vpc_attached_and_trust_only_the_app(stack, prod, staging):
    run = {"prod": prod, "staging": staging}[stack]
    vpc_urn = run.one(VPC).urn
    app = run.one(APP)
    for cluster in run.of_type(CLUSTER):
        assert cluster.inputs["privateNetworkUuid"], f"{cluster.name} has no VPC"
        assert vpc_urn in cluster.property_dependencies["privateNetworkUuid"]
        firewalls = [f for f in run.of_type(FIREWALL) if cluster.urn in f.property_dependencies["clusterId"]]
        assert len(firewalls) == 1, f"{cluster.name} needs exactly one firewall"
        rules = firewalls[0].inputs["rules"]
        assert len(rules) == 1 and rules[0]["type"] == "app"
        assert app.urn in firewalls[0].property_dependencies["rules"]
    # The app joins the VPC only with app.vpc (App Platform's VPC attachment is a per-team preview).
    assert "vpcs" not in app_spec(run)


def test_prod_protects_stateful_resources_and_staging_does_not(prod, staging):
    assert all(c.protect for c in prod.of_type(CLUSTER))
    key = next(p for p in prod.of_type(PASSWORD) if p.name.endswith("encryption-key"))
    assert key.protect
    assert not any(c.protect for c in staging.of_type(CLUSTER))
    tokens = [p for p in prod.of_type(PASSWORD) if "runner-token" in p.name]
    assert tokens and not any(t.protect for t in tokens), "runner tokens are rotatable, not protected"


def test_databases_are_the_engines_and_sizes_n8n_needs(prod, staging):
    pg = next(c for c in prod.of_type(CLUSTER) if c.inputs["engine"] == "pg")
    vk = next(c for c in prod.of_type(CLUSTER) if c.inputs["engine"] == "valkey")
    assert pg.inputs["version"] == "17" and pg.inputs["nodeCount"] >= 2
    assert catalog.DATABASE_SIZES[pg.inputs["size"]].allows_standby
    assert vk.inputs["version"] == "8" and vk.inputs["evictionPolicy"] == "noeviction"
    assert vk.inputs["nodeCount"] >= 2
    assert pg.inputs["maintenanceWindows"] == [{"day": "sunday", "hour": "03:00"}]
    staging_nodes = {c.inputs["engine"]: c.inputs["nodeCount"] for c in staging.of_type(CLUSTER)}
    assert staging_nodes == {"pg": 1, "valkey": 1}


def test_n8n_has_its_own_database_user_attached_to_the_app(prod):
    db = prod.one("digitalocean:index/databaseDb:DatabaseDb").inputs
    user = prod.one("digitalocean:index/databaseUser:DatabaseUser").inputs
    assert db["name"] == "n8n" and user["name"] == "n8n"
    attached = {d["name"]: d for d in app_spec(prod)["databases"]}
    assert attached["postgres"] == {"name": "postgres", "engine": "PG", "production": True,
                                    "clusterName": "n8n-prod-pg", "dbName": "n8n", "dbUser": "n8n",
                                    "version": "17"}
    assert attached["valkey"]["engine"] == "VALKEY" and attached["valkey"]["production"] is True


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_every_runner_pool_serves_one_single_instance_broker(stack, prod, staging):
    spec = app_spec({"prod": prod, "staging": staging}[stack])
    brokers = broker_services(spec)
    pools = runner_pools(spec)
    assert brokers and len(pools) == len(brokers)
    for pool in pools:
        uri = env_of(pool)["N8N_RUNNERS_TASK_BROKER_URI"]
        target = [b for b in brokers if uri == f"http://{b['name']}:{catalog.BROKER_PORT}"]
        assert len(target) == 1, f"{pool['name']} points at {uri}, which is no broker service"
        assert target[0].get("instanceCount") == 1 and "autoscaling" not in target[0]
        assert catalog.BROKER_PORT in target[0]["internalPorts"]
    served = Counter(env_of(p)["N8N_RUNNERS_TASK_BROKER_URI"] for p in pools)
    assert all(n == 1 for n in served.values()), "a broker has more than one runner pool"


def test_worker_pairs_are_queue_workers_with_readiness_checks(prod):
    spec = app_spec(prod)
    workers = [s for s in spec["services"] if s.get("runCommand") == "n8n worker"]
    assert [w["name"] for w in workers] == ["n8n-worker-1", "n8n-worker-2"]
    for w in workers:
        env = env_of(w)
        assert env["QUEUE_HEALTH_CHECK_ACTIVE"] == "true"
        assert env["N8N_RUNNERS_BROKER_LISTEN_ADDRESS"] == "0.0.0.0"
        assert w["healthCheck"]["httpPath"] == "/healthz/readiness" and w["healthCheck"]["port"] == 5678
        assert sorted(w["internalPorts"]) == [5678, 5679] and "httpPort" not in w


def test_every_n8n_service_takes_traffic_when_ready_and_is_restarted_only_when_dead(prod):
    spec = app_spec(prod)
    n8n = [s for s in spec["services"] if s.get("runCommand", "").startswith("n8n")]
    assert len(n8n) == 3  # main and two workers (prod has no webhook processors)
    for svc in n8n:
        assert (svc["healthCheck"]["httpPath"], svc["healthCheck"]["port"]) == ("/healthz/readiness", 5678), svc["name"]
        assert (svc["livenessHealthCheck"]["httpPath"], svc["livenessHealthCheck"]["port"]) == ("/healthz", 5678)
        assert svc["livenessHealthCheck"]["successThreshold"] == 1  # App Platform accepts no other value


def test_main_marks_executions_without_a_queue_job_crashed_within_minutes(prod):
    assert env_of(component(app_spec(prod), "n8n-main"))["N8N_EXECUTIONS_QUEUE_RECOVERY_INTERVAL"] == "3"
    workers = [s for s in app_spec(prod)["services"] if s["name"] != "n8n-main"]
    assert all("N8N_EXECUTIONS_QUEUE_RECOVERY_INTERVAL" not in env_of(w) for w in workers)  # read by main only


def test_main_is_one_instance_serving_ui_and_webhooks(prod):
    main = component(app_spec(prod), "n8n-main")
    assert main["instanceCount"] == 1 and "autoscaling" not in main
    assert main["httpPort"] == 5678
    env = env_of(main)
    assert env["N8N_PROXY_HOPS"] == "1"
    assert env["N8N_WEBHOOK_URL"] == "${APP_URL}"
    assert env["OFFLOAD_MANUAL_EXECUTIONS_TO_WORKERS"] == "true"
    assert "N8N_RUNNERS_MODE" not in env, "with offload on, main starts no broker"


def test_images_are_pinned_and_runners_match_n8n(prod):
    spec = app_spec(prod)
    tags = {c["image"]["repository"]: c["image"]["tag"] for c in components(spec) if c["image"]["registry"] == "n8nio"}
    assert tags == {"n8n": "2.41.1", "runners": "2.41.1"}


def test_databases_are_reached_over_verified_tls(prod):
    for svc in n8n_processes(app_spec(prod)):
        env = env_of(svc)
        assert env["DB_POSTGRESDB_SSL_CA"] == "${postgres.CA_CERT}"
        assert env["DB_POSTGRESDB_SSL_REJECT_UNAUTHORIZED"] == "true"
        assert env["QUEUE_BULL_REDIS_TLS"] == "true"
        assert env["DB_POSTGRESDB_PASSWORD"] == "${postgres.PASSWORD}"


def test_secrets_reach_the_app_only_as_secret_env_vars(prod):
    spec = app_spec(prod)
    keys = {e["value"] for s in n8n_processes(spec) for e in s["envs"] if e["key"] == N8N_PROCESS_ENV}
    assert len(keys) == 1 and len(keys.pop()) >= catalog.MIN_SECRET_LENGTH
    secret_keys = {"N8N_ENCRYPTION_KEY", "N8N_RUNNERS_AUTH_TOKEN", "PGPASSWORD"}
    for comp in components(spec):
        for e in comp.get("envs", []):
            if e["key"] in secret_keys:
                assert e["type"] == "SECRET", f"{comp['name']} {e['key']} is not SECRET"
    assert "spec" in prod.one(APP).secret_paths, "the App spec must be stored encrypted in state"


def test_each_broker_has_its_own_token_shared_only_with_its_runners(prod):
    spec = app_spec(prod)
    key = env_of(component(spec, "n8n-main"))["N8N_ENCRYPTION_KEY"]
    tokens = {}
    for broker in broker_services(spec):
        tokens[broker["name"]] = env_of(broker)["N8N_RUNNERS_AUTH_TOKEN"]
    assert len(set(tokens.values())) == len(tokens) and key not in tokens.values()
    for pool in runner_pools(spec):
        broker = env_of(pool)["N8N_RUNNERS_TASK_BROKER_URI"].split("//")[1].split(":")[0]
        assert env_of(pool)["N8N_RUNNERS_AUTH_TOKEN"] == tokens[broker]
        assert env_entry(pool, "N8N_RUNNERS_AUTH_TOKEN")["type"] == "SECRET"


def test_exported_secrets_are_secret_outputs(prod):
    assert {"encryption_key", "runner_auth_tokens"} <= prod.secret_outputs
    assert set(prod.outputs["runner_auth_tokens"]) == {"n8n-worker-1", "n8n-worker-2"}
    assert prod.outputs["worker_pairs"] == 2
    assert prod.outputs["postgres_cluster"] == "n8n-prod-pg"
    assert prod.outputs["app_url"].startswith("https://")
    assert not ({"app_url", "app_id", "postgres_cluster"} & prod.secret_outputs)


def test_alerts_go_to_the_configured_destinations(prod):
    spec = app_spec(prod)
    assert {a["rule"] for a in spec["alerts"]} == {"DEPLOYMENT_FAILED", "DOMAIN_FAILED"}
    for a in spec["alerts"]:
        assert a["destinations"]["emails"] == ["ops@example.com"]
    for comp in spec["services"] + spec["workers"]:
        rules = {a["rule"]: a for a in comp["alerts"]}
        assert set(rules) == {"CPU_UTILIZATION", "MEM_UTILIZATION", "RESTART_COUNT"}, comp["name"]
        assert all(a["destinations"]["emails"] for a in rules.values())


def test_the_schema_grant_job_runs_before_each_deploy_as_doadmin(prod):
    job = component(app_spec(prod), "n8n-db-grants")
    assert job["kind"] == "PRE_DEPLOY"
    env = env_of(job)
    assert env["PGUSER"] == "doadmin" and env["PGSSLMODE"] == "verify-full"
    assert env_entry(job, "PGPASSWORD")["type"] == "SECRET"
    assert "GRANT USAGE, CREATE ON SCHEMA public TO n8n" in env["DB_GRANTS_SQL"]


def test_growing_from_two_to_five_pairs_adds_pairs_and_changes_nothing_else(prod):
    two, five = prod, run_stack("prod", {"workers": {"pairs": 5}})
    spec2, spec5 = app_spec(two), app_spec(five)
    assert [w["name"] for w in broker_services(spec5)] == [f"n8n-worker-{i}" for i in range(1, 6)]
    assert [p["name"] for p in runner_pools(spec5)] == [f"n8n-runners-{i}" for i in range(1, 6)]
    tokens = [env_of(p)["N8N_RUNNERS_AUTH_TOKEN"] for p in runner_pools(spec5)]
    assert len(set(tokens)) == 5
    # Existing components are byte-for-byte the same, secrets included.
    for name in ("n8n-main", "n8n-worker-1", "n8n-worker-2", "n8n-runners-1", "n8n-runners-2", "n8n-db-grants"):
        assert component(spec5, name) == component(spec2, name), name
    assert {k: v for k, v in spec5.items() if k not in ("services", "workers")} == \
           {k: v for k, v in spec2.items() if k not in ("services", "workers")}
    # Every other resource is unchanged; the only new ones are the three new tokens.
    before = {(r.type, r.name): r.inputs for r in two.resources if r.type != APP}
    after = {(r.type, r.name): r.inputs for r in five.resources if r.type != APP}
    added = set(after) - set(before)
    assert added == {(PASSWORD, f"n8n-secrets-runner-token-n8n-worker-{i}") for i in (3, 4, 5)}
    assert not set(before) - set(after)
    assert all(after[k] == before[k] for k in before)


def test_offload_off_gives_main_its_own_broker_and_runner_pool():
    spec = app_spec(run_stack("prod", {"n8n": {"offloadManualExecutions": False}}))
    main = component(spec, "n8n-main")
    env = env_of(main)
    assert env["OFFLOAD_MANUAL_EXECUTIONS_TO_WORKERS"] == "false"
    assert env["N8N_RUNNERS_MODE"] == "external" and catalog.BROKER_PORT in main["internalPorts"]
    pool = component(spec, "n8n-runners-main")
    assert env_of(pool)["N8N_RUNNERS_TASK_BROKER_URI"] == "http://n8n-main:5679"
    assert env_of(pool)["N8N_RUNNERS_AUTH_TOKEN"] == env["N8N_RUNNERS_AUTH_TOKEN"]


def test_webhook_processors_take_production_webhooks_only():
    spec = app_spec(run_stack("prod", {"webhooks": {"processors": 2}}))
    hooks = component(spec, "n8n-webhook")
    assert hooks["runCommand"] == "n8n webhook" and hooks["instanceCount"] == 2
    assert "N8N_RUNNERS_MODE" not in env_of(hooks)
    routes = {r["match"]["path"]["prefix"]: r["component"] for r in spec["ingress"]["rules"] if "component" in r}
    assert routes["/webhook/"] == {"name": "n8n-webhook", "rewrite": "/webhook/"}
    assert routes["/webhook-waiting/"]["name"] == "n8n-webhook"
    assert routes["/"] == {"name": "n8n-main"}  # /webhook-test/ stays with the editor


def test_config_secrets_replace_generated_ones():
    key, token = "0f6c1b9e2d7a4c3f8e5b6a1d9c2e7f4a0b3d5c6e8f1a2b4c", "Qm7Xz2Lp9Rt4Vw6Yb8Nc3Kd5Hf1Gj0Ts"
    # As `pulumi config set --secret` leaves them: the engine flags both keys as secret.
    config = stack_config("prod", {"encryptionKey": key, "runnerAuthTokens": {"n8n-worker-1": token}})
    run = run_program(config, "prod", ["n8n-platform:encryptionKey", "n8n-platform:runnerAuthTokens"])
    names = {p.name for p in run.of_type(PASSWORD)}
    assert names == {"n8n-secrets-runner-token-n8n-worker-2"}
    spec = app_spec(run)
    assert env_of(component(spec, "n8n-worker-2"))["N8N_ENCRYPTION_KEY"] == key
    assert env_of(component(spec, "n8n-runners-1"))["N8N_RUNNERS_AUTH_TOKEN"] == token
    assert "encryption_key" in run.secret_outputs


def test_invalid_settings_stop_the_program_before_any_resource():
    config = stack_config("prod", {"workers": {"pairs": 0}, "postgres": {"size": "db-s-9gb"}})
    with pytest.raises(pulumi.RunError) as err:
        run_program(config, "prod")
    message = str(err.value)
    assert "workers.pairs: must be between 1 and 20 (got 0)" in message
    assert "postgres.size" in message and "Traceback" not in message
