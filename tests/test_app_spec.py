"""The pure builders: App spec in the API's shape, the SDK adapter, env vars and names. No Pulumi runtime."""

import yaml

from builders import app_spec, env
from builders.names import topology_for
from offline.render import main as render_main
from offline.render import offline_spec
from platform_model import catalog, topology
from stack.loader import load_settings
from stackrun import stack_config


def settings(overrides=None, stack="prod"):
    return load_settings(stack_config(stack, overrides), stack)


def by_name(items):
    return {i["name"]: i for i in items}


def envs(component):
    return {e["key"]: e for e in component["envs"]}


def test_names_of_a_worker_pair():
    assert topology.worker(3) == "n8n-worker-3"
    assert topology.runner_pool_for("n8n-worker-3") == "n8n-runners-3"
    assert topology.runner_pool_for(topology.MAIN) == "n8n-runners-main"
    assert topology.broker_uri("n8n-worker-3") == "http://n8n-worker-3:5679"


def test_plan_pairs_each_broker_with_one_pool():
    top = topology_for(settings({"workers": {"pairs": 3}, "n8n": {"offloadManualExecutions": False}}))
    assert top.brokers == ("n8n-main", "n8n-worker-1", "n8n-worker-2", "n8n-worker-3")
    assert [p.name for p in top.runner_pools] == ["n8n-runners-main", "n8n-runners-1", "n8n-runners-2", "n8n-runners-3"]
    assert top.webhook is None and top.n8n_processes == ("n8n-main", "n8n-worker-1", "n8n-worker-2", "n8n-worker-3")


def test_api_shape_uses_the_api_names():
    spec = offline_spec(settings({"domain": "n8n.example.com", "app": {"vpc": True}}))
    assert spec["vpc"] == {"id": "<vpc-id: known after pulumi up>"}
    assert spec["domains"] == [{"domain": "n8n.example.com", "type": "PRIMARY"}]
    assert spec["region"] == "ams" and spec["name"] == "n8n-prod"
    assert "vpcs" not in spec and "domain_names" not in spec
    # The API takes alert destinations through a separate call; they are not in its spec.
    assert all("destinations" not in a for a in spec["alerts"])


def test_sdk_adapter_renames_what_the_sdk_spells_differently():
    api = {
        "name": "x", "domains": [{"domain": "a.example.com", "type": "PRIMARY", "minimum_tls_version": "1.3"}],
        "vpc": {"id": "v"}, "egress": {"type": "DEDICATED_IP"},
        "alerts": [{"rule": "DEPLOYMENT_FAILED"}],
        "services": [{"name": "s", "image": {"repository": "n8n", "deploy_on_push": {"enabled": False}},
                      "alerts": [{"rule": "CPU_UTILIZATION", "value": 80}]}],
    }
    dest = {"emails": ["ops@example.com"], "slack_webhooks": []}
    sdk = app_spec.to_sdk_spec(api, dest)
    assert sdk["domain_names"] == [{"name": "a.example.com", "type": "PRIMARY"}]
    assert sdk["vpcs"] == [{"id": "v"}] and sdk["egresses"] == [{"type": "DEDICATED_IP"}]
    assert "domains" not in sdk and "vpc" not in sdk and "egress" not in sdk
    svc = sdk["services"][0]
    assert svc["image"]["deploy_on_pushes"] == [{"enabled": False}] and "deploy_on_push" not in svc["image"]
    assert sdk["alerts"][0]["destinations"] == dest and svc["alerts"][0]["destinations"] == dest
    assert "destinations" not in api["alerts"][0], "the adapter must not change its input"


def test_sdk_adapter_without_destinations_leaves_alerts_alone():
    sdk = app_spec.to_sdk_spec({"name": "x", "alerts": [{"rule": "DEPLOYMENT_FAILED"}]}, None)
    assert sdk["alerts"] == [{"rule": "DEPLOYMENT_FAILED"}]


def test_every_n8n_process_shares_queue_database_and_key_settings():
    spec = offline_spec(settings({"webhooks": {"processors": 1}}))
    processes = [s for s in spec["services"] if s["image"]["repository"] == "n8n"]
    assert [p["name"] for p in processes] == ["n8n-main", "n8n-worker-1", "n8n-worker-2", "n8n-webhook"]
    common = {"EXECUTIONS_MODE": "queue", "DB_TYPE": "postgresdb", "QUEUE_BULL_REDIS_TLS": "true",
              "DB_POSTGRESDB_SSL_REJECT_UNAUTHORIZED": "true", "N8N_WEBHOOK_URL": "${APP_URL}",
              "QUEUE_BULL_REDIS_HOST": "${valkey.HOSTNAME}", "DB_POSTGRESDB_HOST": "${postgres.HOSTNAME}",
              "GENERIC_TIMEZONE": "Europe/Amsterdam", "DB_POSTGRESDB_POOL_SIZE": "2"}
    for p in processes:
        e = envs(p)
        for key, value in common.items():
            assert e[key]["value"] == value, (p["name"], key)
        assert e["N8N_ENCRYPTION_KEY"]["type"] == "SECRET"


def test_runner_pool_env_points_at_its_broker_with_matching_timeouts():
    s = settings()
    pool = by_name(offline_spec(s)["workers"])["n8n-runners-2"]
    e = envs(pool)
    assert e["N8N_RUNNERS_TASK_BROKER_URI"]["value"] == "http://n8n-worker-2:5679"
    assert e["N8N_RUNNERS_AUTH_TOKEN"] == {"key": "N8N_RUNNERS_AUTH_TOKEN", "scope": "RUN_TIME", "type": "SECRET",
                                           "value": "<redacted: runnerAuthTokens.n8n-worker-2>"}
    worker = by_name(offline_spec(s)["services"])["n8n-worker-2"]
    assert e["N8N_RUNNERS_TASK_TIMEOUT"]["value"] == envs(worker)["N8N_RUNNERS_TASK_TIMEOUT"]["value"] == "300"
    assert pool["liveness_health_check"]["port"] == catalog.RUNNER_HEALTH_PORT


def test_termination_grace_covers_n8n_graceful_shutdown():
    spec = offline_spec(settings({"n8n": {"gracefulShutdownSeconds": 120}}))
    for svc in spec["services"]:
        assert envs(svc)["N8N_GRACEFUL_SHUTDOWN_TIMEOUT"]["value"] == "120"
        assert svc["termination"]["grace_period_seconds"] == 120 + catalog.SHUTDOWN_MARGIN_SECONDS


def test_autoscaled_component_has_no_instance_count():
    spec = offline_spec(settings({"runners": {"autoscaling": {"minInstances": 1, "maxInstances": 4}}}))
    pool = by_name(spec["workers"])["n8n-runners-1"]
    assert "instance_count" not in pool
    assert pool["autoscaling"] == {"min_instance_count": 1, "max_instance_count": 4,
                                   "metrics": {"cpu": {"percent": 80}}}


def test_license_and_multi_main_reach_every_n8n_process():
    spec = offline_spec(settings({"n8n": {"multiMain": True}, "licenseKey": "L" * 40, "main": {"instances": 2}}))
    main = by_name(spec["services"])["n8n-main"]
    assert main["instance_count"] == 2
    for svc in spec["services"]:
        assert envs(svc)["N8N_MULTI_MAIN_SETUP_ENABLED"]["value"] == "true"
        assert envs(svc)["N8N_LICENSE_ACTIVATION_KEY"]["type"] == "SECRET"


def test_render_command_writes_yaml_with_secrets_redacted(tmp_path, capsys):
    out = tmp_path / "spec.yaml"
    assert render_main(["prod", "-o", str(out)]) == 0
    spec = yaml.safe_load(out.read_text())
    secrets = [e["value"] for c in spec["services"] + spec["workers"] + spec["jobs"] for e in c["envs"]
               if e["type"] == "SECRET"]
    # A SECRET is redacted, or a binding App Platform fills in (the backup worker's ${postgres.PASSWORD}).
    assert secrets and all(v.startswith("<redacted: ") or v == "${postgres.PASSWORD}" for v in secrets)


def test_render_command_reports_bad_settings_with_exit_code_2(capsys):
    assert render_main(["nosuchstack"]) == 2
    assert "Pulumi.nosuchstack.yaml" in capsys.readouterr().err


def test_db_grant_sql_is_what_postgres_15_needs():
    assert env.DB_GRANTS_SQL == ("GRANT CONNECT, TEMPORARY ON DATABASE n8n TO n8n; "
                                 "GRANT USAGE, CREATE ON SCHEMA public TO n8n;")
