"""Observability: what a stack renders for logs, metrics, alerts, uptime and retention, and what it refuses."""

from __future__ import annotations

import functools
import json
import subprocess
from typing import Any

import pytest
import yaml

from builders.observability import alert_rules, scrape_targets
from offline.engine import ProgramRun
from offline.render import offline_spec
from platform_model import catalog
from platform_model.catalog import CLUSTER
from platform_model.ingress import spec_route
from platform_model.topology import COLLECTOR
from settings.model import SettingsError
from stack.loader import load_settings
from stackedit import StackEdit
from stackrun import app_spec, component, components, env_entry, env_of, run_stack, stack_config

REMOTE = {"metrics": {"remote": {"endpoint": "https://prometheus.example.net/api/prom/push"}}}
AUTHORIZATION = "Basic MTIzNDU2Omdsc19hYmNkZWYxMjM0NTY3ODkw"
DATADOG_KEY = "dd0123456789abcdef0123456789abcd"


def settings(overrides=None, stack="prod"):
    return load_settings(stack_config(stack, overrides), stack)


def rules_by_name(s):
    return {r["alert"]: r for r in alert_rules(s)["groups"][0]["rules"]}


@pytest.mark.parametrize("overrides",
                         [{}, {"webhooks": {"processors": 2}}, {"n8n": {"offloadManualExecutions": False}}])
@pytest.mark.parametrize("path", ["/metrics", "/metrics/", "/metrics?format=json", "/metrics/anything"])
def test_the_public_url_never_routes_metrics_to_an_n8n_process(overrides, path):
    route = spec_route(offline_spec(settings(overrides)), path)
    assert route.public_component is None and route.redirect["uri"] == "/"


def test_the_editor_api_webhooks_and_health_still_reach_their_components():
    spec = offline_spec(settings({"webhooks": {"processors": 2}}))
    assert spec_route(spec, "/healthz").public_component == "n8n-main"  # the uptime check's target
    assert spec_route(spec, "/rest/login").public_component == "n8n-main"
    assert spec_route(spec, "/webhook/abc").public_component == "n8n-webhook"


def test_every_n8n_process_serves_metrics_and_only_main_polls_the_queue():
    spec = offline_spec(settings({"webhooks": {"processors": 1}}))
    n8n = [c for c in spec["services"] if c["image"]["repository"] == "n8n"]
    assert len(n8n) == 4
    for c in n8n:
        env = {e["key"]: e["value"] for e in c["envs"]}
        assert env["N8N_METRICS"] == "true"
        assert env["N8N_METRICS_INCLUDE_NODE_TYPE_LABEL"] == "true"  # the runner alert counts Code nodes
        assert ("N8N_METRICS_INCLUDE_QUEUE_METRICS" in env) == (c["name"] == "n8n-main")


def test_metrics_off_turns_every_metrics_variable_off_and_keeps_the_ingress_block():
    spec = offline_spec(settings({"observability": {"metrics": {"enabled": False}}}))
    for c in spec["services"]:
        env = {e["key"]: e["value"] for e in c["envs"]}
        assert env["N8N_METRICS"] == "false" and not any(k.startswith("N8N_METRICS_") for k in env)
    assert spec_route(spec, "/metrics").public_component is None


def test_one_scrape_target_per_n8n_process_and_none_behind_a_shared_name():
    assert [t.address for t in scrape_targets(settings())] == ["n8n-main:5678", "n8n-worker-1:5678",
                                                               "n8n-worker-2:5678"]
    single = scrape_targets(settings({"webhooks": {"processors": 1}}))
    assert "n8n-webhook:5678" in [t.address for t in single]
    several = scrape_targets(settings({"webhooks": {"processors": 3}}))
    assert "n8n-webhook" not in [t.component for t in several]


@pytest.mark.parametrize("pairs, concurrency", [(2, 10), (6, 20)])
def test_the_backlog_threshold_is_the_worker_slots(pairs, concurrency):
    rules = rules_by_name(settings({"workers": {"pairs": pairs, "concurrency": concurrency}}))
    assert rules["N8nQueueBacklog"]["expr"].endswith(f"> {pairs * concurrency}")
    assert rules["N8nQueueBacklog"]["for"] == "300s"


def test_the_connections_threshold_follows_the_cluster_size():
    small = rules_by_name(settings({"postgres": {"size": "db-s-1vcpu-2gb"}}))["N8nPostgresConnectionsHigh"]
    large = rules_by_name(settings({"postgres": {"size": "db-s-4vcpu-8gb"}}))["N8nPostgresConnectionsHigh"]
    assert small["expr"].endswith("> 33")  # (25 × 2 − 3 − 5 headroom) × 0.8
    assert large["expr"].endswith("> 153")


def test_stuck_window_and_task_timeout_come_from_the_settings():
    rules = rules_by_name(settings({"observability": {"metrics": {"stuckMinutes": 30}},
                                    "n8n": {"taskTimeoutSeconds": 120}}))
    assert "[1800s]" in rules["N8nExecutionsStuck"]["expr"]
    assert "[180s]" in rules["N8nRunnerTasksUnanswered"]["expr"]


def test_promtool_accepts_the_rendered_rules(tmp_path):
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump(alert_rules(settings())))
    done = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 8 rules found" in done.stdout


def counter(name: str, component: str, per_scrape: int, **labels: str) -> dict:
    """A counter series for `promtool test rules`, growing by `per_scrape` every 30 s for 20 minutes."""
    selector = ", ".join(f'{k}="{v}"' for k, v in {**labels, "component": component}.items())
    return {"series": f"{name}{{{selector}}}", "values": f"0+{per_scrape}x40"}


def test_the_runner_alert_fires_for_the_worker_whose_code_nodes_get_no_runner_and_only_for_it(tmp_path):
    """promtool evaluates the rendered rule on series shaped like n8n 2.41.1's worker counters: worker 1's pool
    never accepts a task (down or unregistered: no task counter at all), worker 2's is healthy, worker 3's
    runners accept tasks and never return a result (killed, or past the task timeout)."""
    rule = rules_by_name(settings())["N8nRunnerTasksUnanswered"]
    rules = tmp_path / "rules.yml"
    rules.write_text(yaml.safe_dump({"groups": [{"name": "n8n", "rules": [rule]}]}))
    code = {"node_type": "base_code"}
    series = [counter("n8n_node_started_total", "n8n-worker-1", 3, **code),
              counter("n8n_node_started_total", "n8n-worker-2", 3, **code),
              counter("n8n_runner_task_requested_total", "n8n-worker-2", 3),
              counter("n8n_runner_response_received_total", "n8n-worker-2", 3),
              counter("n8n_node_started_total", "n8n-worker-3", 3, **code),
              counter("n8n_runner_task_requested_total", "n8n-worker-3", 3),
              counter("n8n_runner_response_received_total", "n8n-worker-3", 0)]
    expected = [{"exp_labels": {"severity": "warning", "component": f"n8n-worker-{i}"},
                 "exp_annotations": rule["annotations"]} for i in (1, 3)]
    tests = tmp_path / "tests.yml"
    tests.write_text(yaml.safe_dump({"rule_files": [str(rules)], "evaluation_interval": "30s", "tests": [{
        "interval": "30s", "input_series": series,
        "alert_rule_test": [{"eval_time": "10m", "alertname": rule["alert"], "exp_alerts": expected},
                            {"eval_time": "1m", "alertname": rule["alert"], "exp_alerts": []}]}]}))
    done = subprocess.run(["promtool", "test", "rules", str(tests)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_no_collector_without_a_remote_and_one_worker_with_it():
    assert COLLECTOR not in [c["name"] for c in components(offline_spec(settings()))]
    spec = offline_spec(settings({"observability": REMOTE}))
    collector = next(w for w in spec["workers"] if w["name"] == COLLECTOR)
    assert collector["run_command"] == f"/otelcol-contrib --config=env:{catalog.COLLECTOR_CONFIG_ENV}"
    assert collector["image"]["repository"] == "opentelemetry-collector-contrib"
    config = yaml.safe_load(collector["envs"][0]["value"])
    jobs = config["receivers"]["prometheus"]["config"]["scrape_configs"]
    assert [t for sc in jobs[0]["static_configs"] for t in sc["targets"]] == [
        "n8n-main:5678", "n8n-worker-1:5678", "n8n-worker-2:5678"]
    assert config["exporters"]["prometheusremotewrite"]["add_metric_suffixes"] is False


def test_the_collector_config_is_a_secret_when_it_carries_the_authorization():
    run = run_stack("prod", {"observability": REMOTE, "metricsAuthorization": AUTHORIZATION})
    entry = env_entry(component(app_spec(run), COLLECTOR), catalog.COLLECTOR_CONFIG_ENV)
    assert entry["type"] == "SECRET" and AUTHORIZATION in entry["value"]
    assert "${" not in entry["value"]  # App Platform would read it as one of its bindable variables


def test_logs_go_to_one_destination_from_every_component_with_the_key_as_a_secret():
    run = run_stack("prod", {"observability": {"logs": {"destination": {"kind": "datadog"}}},
                             "logDestinationSecret": DATADOG_KEY})
    spec = app_spec(run)
    for c in components(spec):
        assert c["logDestinations"] == [{"name": "n8n-logs", "datadog": {"apiKey": DATADOG_KEY}}], c["name"]


def test_n8n_logs_json_and_does_not_phone_home_by_default(prod):
    env = env_of(component(app_spec(prod), "n8n-main"))
    assert env["N8N_LOG_FORMAT"] == "json" and env["N8N_LOG_LEVEL"] == "info"
    assert env["N8N_DIAGNOSTICS_ENABLED"] == "false" and env["N8N_VERSION_NOTIFICATIONS_ENABLED"] == "false"
    assert env["N8N_BLOCK_ENV_ACCESS_IN_NODE"] == "true" and env["N8N_SECURE_COOKIE"] == "true"
    assert env["EXECUTIONS_DATA_PRUNE"] == "true" and env["EXECUTIONS_DATA_MAX_AGE"] == "336"


def test_postgres_grows_its_disk_before_it_fills(prod):
    pg = next(r for r in prod.of_type(CLUSTER) if r.inputs["engine"] == catalog.POSTGRES.cluster)
    assert pg.inputs["storageAutoscale"] == {"enabled": True, "thresholdPercent": 80, "incrementGib": 10}


def test_uptime_checks_main_health_from_outside_and_alerts_the_stack_destinations(prod):
    check = prod.one("digitalocean:index/uptimeCheck:UptimeCheck")
    assert check.inputs["target"].endswith("/healthz") and check.inputs["type"] == "https"
    alerts = {a.inputs["type"]: a.inputs for a in prod.of_type("digitalocean:index/uptimeAlert:UptimeAlert")}
    assert set(alerts) == {"down_global", "latency", "ssl_expiry"}
    assert alerts["latency"]["threshold"] == 2000 and alerts["ssl_expiry"]["threshold"] == 14
    assert all(a["notifications"] == [{"emails": ["ops@example.com"], "slacks": []}] for a in alerts.values())


OPENSEARCH_PASSWORD = "os/pass@0123456789abcdef"
DATABASE_LOGS: dict[str, dict[str, Any]] = {
    "openSearch": {"observability": {"logs": {"database": True, "destination": {
        "kind": "openSearch", "endpoint": "https://search.example.com:9200", "user": "n8n"}}},
        "logDestinationSecret": OPENSEARCH_PASSWORD},
    "papertrail": {"observability": {"logs": {"database": True, "destination": {
        "kind": "papertrail", "endpoint": "syslog+tls://logs3.papertrailapp.com:12345"}}}},
}
LOG_SINK = "n8n-postgres-logs"


@functools.cache
def with_database_logs(destination: str) -> ProgramRun:
    """prod shipping PostgreSQL's logs to `destination`, run once (tests read it or edit a StackEdit copy)."""
    return run_stack("prod", DATABASE_LOGS[destination])


def test_postgres_logs_go_to_opensearch_with_the_password_kept_secret():
    run = with_database_logs("openSearch")
    sink = run.one(catalog.OPENSEARCH_SINK)
    assert sink.name == LOG_SINK and sink.parent == run.one("n8n-platform:postgres:Postgres").urn
    # DigitalOcean reads the credential from the URL: escaped, and the input and output both secret.
    assert sink.inputs["endpoint"] == "https://n8n:os%2Fpass%400123456789abcdef@search.example.com:9200"
    assert "endpoint" in sink.secret_paths and "endpoint" in sink.additional_secret_outputs
    assert sink.inputs["indexPrefix"] == "logs-postgres"
    assert OPENSEARCH_PASSWORD not in json.dumps(run.outputs)


def test_postgres_logs_go_to_papertrail_over_tls():
    run = with_database_logs("papertrail")
    sink = run.one(catalog.RSYSLOG_SINK)
    assert (sink.inputs["server"], sink.inputs["port"], sink.inputs["tls"]) == ("logs3.papertrailapp.com", 12345, True)


def test_no_database_log_sink_by_default(prod):
    assert not prod.of_type(catalog.RSYSLOG_SINK) and not prod.of_type(catalog.OPENSEARCH_SINK)


@pytest.mark.parametrize("overrides, key", [
    ({"observability": {"logs": {"database": True}}}, "observability.logs.database"),
    ({"observability": {"logs": {"database": True, "destination": {"kind": "datadog"}}},
      "logDestinationSecret": DATADOG_KEY}, "observability.logs.database"),
    ({"observability": {"logs": {"destination": {"kind": "datadog"}}}}, "logDestinationSecret"),
    ({"observability": {"logs": {"destination": {"kind": "papertrail"}}}}, "observability.logs.destination.endpoint"),
    ({"observability": {"logs": {"destination": {"kind": "papertrail", "endpoint": "https://x.example.com"}}}},
     "observability.logs.destination.endpoint"),
    ({"observability": {"logs": {"destination": {"kind": "openSearch", "endpoint": "https://os.example.com"}}},
      "logDestinationSecret": DATADOG_KEY}, "observability.logs.destination.user"),
    ({"observability": {"metrics": {"enabled": False, **REMOTE["metrics"]}}}, "observability.metrics.remote"),
    ({"metricsAuthorization": AUTHORIZATION}, "metricsAuthorization"),
    ({"observability": {"metrics": {"remote": {"endpoint": "http://plain.example.com/push"}}}},
     "observability.metrics.remote.endpoint"),
])
def test_incomplete_observability_settings_are_refused_by_name(overrides, key):
    with pytest.raises(SettingsError) as err:
        settings(overrides)
    assert f"  - {key}:" in str(err.value)
    assert DATADOG_KEY not in str(err.value) and AUTHORIZATION not in str(err.value)


# --- the policy pack ---------------------------------------------------------------------------------


def test_the_pack_accepts_a_public_metrics_route_when_metrics_are_off(pack, prod):
    from test_policies import drop_metrics_redirect

    stack = StackEdit(prod)
    drop_metrics_redirect(stack)
    stack.set_env("n8n-main", "N8N_METRICS", "false")
    assert stack.send(pack) == []


def _plain_sink_password(stack):
    stack.options(LOG_SINK, additional_secret_outputs=[])


# The policy's failure cases, on the stacks that have a sink (test_policies.py counts them as covered).
LOG_SINK_FAILURES = [
    # (policy, case, destination, edit, fragment of the message)
    ("database-log-sink-secure", "OpenSearch password in a URL that is no secret output", "openSearch",
     _plain_sink_password, "carries the OpenSearch password but is not a secret output"),
    ("database-log-sink-secure", "syslog without TLS", "papertrail",
     lambda stack: stack.props(LOG_SINK).update(tls=False), "would cross the internet in clear"),
    ("database-log-sink-secure", "OpenSearch over plain http", "openSearch",
     lambda stack: stack.props(LOG_SINK).update(endpoint="http://search.example.com:9200"), "is not https"),
]


@pytest.mark.parametrize("checked_by", ["pack", "policies"])
@pytest.mark.parametrize("policy, case, destination, edit, fragment", LOG_SINK_FAILURES,
                         ids=[case for _, case, *_ in LOG_SINK_FAILURES])
def test_the_pack_refuses_an_unsafe_database_log_sink(checked_by, policy, case, destination, edit, fragment,
                                                      request):
    sender = request.getfixturevalue(checked_by)
    stack = StackEdit(with_database_logs(destination))
    assert stack.send(sender) == []
    edit(stack)
    [verdict] = stack.send(sender)
    assert (verdict.policy, verdict.level) == (policy, "mandatory") and fragment in verdict.message
    assert OPENSEARCH_PASSWORD not in verdict.message


def test_the_collector_is_priced_the_same_from_settings_and_from_the_spec():
    from builders.deployment import deployment_from_settings
    from platform_model.deployment import from_app_spec
    from platform_model.pricing import load_prices, monthly_cost

    s = settings({"observability": REMOTE})
    from_settings = deployment_from_settings(s)
    from_spec = from_app_spec(offline_spec(s), from_settings.clusters)
    assert sorted(from_settings.components, key=lambda c: c.name) == sorted(from_spec.components, key=lambda c: c.name)
    without = monthly_cost(deployment_from_settings(settings()), load_prices()).maximum
    assert monthly_cost(from_settings, load_prices()).maximum - without == 5.0  # apps-s-1vcpu-0.5gb


def test_logtail_is_refused_because_no_spec_satisfies_both_the_api_and_the_sdk():
    with pytest.raises(SettingsError) as err:
        settings({"observability": {"logs": {"destination": {"kind": "logtail"}}}})
    assert "observability.logs.destination.kind: must be one of" in str(err.value)


def test_the_rules_command_prints_what_the_stack_exports(prod):
    import sys
    from pathlib import Path

    done = subprocess.run([sys.executable, "-m", "offline.alert_rules", "prod"], capture_output=True, text=True,
                          timeout=60, cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, done.stderr
    assert yaml.safe_load(done.stdout) == prod.outputs["alert_rules"]


def test_the_rehearsals_prometheus_reads_the_rendered_scrape_configuration_and_rules(tmp_path):
    from builders.observability import alert_timing, scrape_configs

    s = settings()
    rules = tmp_path / "rules.yml"
    rules.write_text(yaml.safe_dump(alert_rules(s, alert_timing(s).scaled(0.1))))
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump({"rule_files": [str(rules)],
                                      "scrape_configs": scrape_configs(scrape_targets(s), 5)}))
    done = subprocess.run(["promtool", "check", "config", str(config)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    shortened = rules_by_name(s)["N8nQueueBacklog"], yaml.safe_load(rules.read_text())["groups"][0]["rules"][2]
    assert shortened[1]["expr"] == shortened[0]["expr"] and shortened[1]["for"] == "30s"  # thresholds kept
