"""The settings model: production defaults, region vocabulary, and clear errors for bad input."""

import pytest

from platform_model import catalog
from settings.model import SettingsError
from stack.loader import load_settings, settings_from_file
from stackrun import stack_config


def settings_with(overrides, stack="prod"):
    return load_settings(stack_config(stack, overrides), stack)


def test_defaults_are_production_grade():
    s = load_settings({}, "prod")
    assert s.app_name == "n8n-prod" and s.region == "ams3" and s.app_region == "ams"
    assert s.protect is True
    assert s.postgres.nodes == 2 and catalog.DATABASE_SIZES[s.postgres.size].allows_standby
    assert s.valkey.nodes == 2 and catalog.DATABASE_SIZES[s.valkey.size].allows_standby
    assert s.postgres.version == "17" and s.valkey.version == "8"
    assert s.main.instances == 1 and s.main.autoscaling is None
    assert s.n8n.offload_manual_executions is True
    assert s.n8n.version == catalog.DEFAULT_N8N_VERSION


def test_shipped_stacks_load():
    prod, staging = settings_from_file("prod"), settings_from_file("staging")
    assert prod.workers.pairs == 2 and staging.workers.pairs == 1
    assert staging.postgres.nodes == 1 and staging.protect is False


@pytest.mark.parametrize("datacenter,region", [("nyc3", "nyc"), ("sfo3", "sfo"), ("fra1", "fra"), ("syd1", "syd")])
def test_app_region_is_derived_from_the_datacenter(datacenter, region):
    assert settings_with({"region": datacenter}).app_region == region


def test_engine_config_as_json_text_is_read_like_yaml_objects():
    # The Pulumi engine hands object config to programs as JSON strings.
    s = load_settings({"n8n-platform:workers": '{"pairs": 4, "concurrency": 8}'}, "prod")
    assert s.workers.pairs == 4 and s.workers.concurrency == 8


INVALID = [
    # (overrides, key the message must name, fragment of the explanation)
    ({"region": "ams"}, "region", "give the datacenter instead (e.g. ams3)"),
    ({"region": "mars1"}, "region", "must be a DigitalOcean datacenter"),
    ({"region": 3}, "region", "must be a string"),
    ({"workers": {"pairs": 0}}, "workers.pairs", "must be between 1 and 20 (got 0)"),
    ({"workers": {"pairs": 21}}, "workers.pairs", "must be between 1 and 20"),
    ({"workers": {"pairs": "two"}}, "workers.pairs", "must be a whole number"),
    ({"workers": {"size": "apps-s-9vcpu"}}, "workers.size", "must be one of the App Platform instance sizes"),
    ({"workers": {"concurrency": 2}}, "workers.concurrency", "must be at least 5"),
    ({"workers": {"concurency": 10}}, "workers.concurency", "did you mean concurrency?"),
    ({"n8n": {"version": "latest"}}, "n8n.version", "never `latest`"),
    ({"n8n": {"version": "1.122.2"}}, "n8n.version", "must be n8n 2.x"),
    ({"n8n": {"timezone": "Europe/Atlantis"}}, "n8n.timezone", "IANA time zone"),
    ({"n8n": {"offloadManualExecutions": "sometimes"}}, "n8n.offloadManualExecutions", "true or false"),
    ({"n8n": {"gracefulShutdownSeconds": 900}}, "n8n.gracefulShutdownSeconds", "between 1 and 585"),
    ({"n8n": {"queueRecoveryMinutes": 0}}, "n8n.queueRecoveryMinutes", "between 1 and 180"),
    ({"main": {"instances": 2}}, "main.instances", "licensed multi-main"),
    ({"main": {"autoscaling": {"maxInstances": 3}}}, "main.autoscaling", "licensed multi-main"),
    ({"runners": {"size": "apps-s-1vcpu-1gb", "autoscaling": {"maxInstances": 3}}}, "runners.autoscaling",
     "needs a dedicated size"),
    ({"n8n": {"multiMain": True}, "main": {"instances": 2}}, "n8n.multiMain", "needs an n8n license"),
    ({"main": {"instances": 2, "autoscaling": {"maxInstances": 3}}, "n8n": {"multiMain": True},
      "licenseKey": "L" * 40}, "main.instances", "cannot be set together with autoscaling"),
    ({"main": {"autoscaling": {"minInstances": 4, "maxInstances": 2}}, "n8n": {"multiMain": True},
      "licenseKey": "L" * 40}, "main.autoscaling.minInstances", "must not exceed maxInstances"),
    ({"webhooks": {"processors": 2, "size": "apps-s-1vcpu-0.5gb"}}, "webhooks.size",
     "fixed size that runs one instance"),
    ({"postgres": {"size": "db-s-1vcpu-1gb", "nodes": 2}}, "postgres.nodes", "allows no standby nodes"),
    ({"valkey": {"size": "db-s-1vcpu-1gb", "nodes": 3}}, "valkey.nodes", "allows no standby nodes"),
    ({"postgres": {"nodes": 4}}, "postgres.nodes", "between 1 and 3"),
    ({"postgres": {"version": 12}}, "postgres.version", "must be one of the PostgreSQL versions"),
    ({"valkey": {"version": "7"}}, "valkey.version", "must be one of the Valkey versions"),
    ({"postgres": {"maintenance": {"day": "someday"}}}, "postgres.maintenance.day", "weekdays"),
    ({"postgres": {"maintenance": {"hour": "3pm"}}}, "postgres.maintenance.hour", "HH:00"),
    ({"domain": "https://n8n.example.com/"}, "domain", "without scheme or path"),
    ({"name": "N8N_Prod"}, "name", "lower-case letters"),
    ({"protect": "maybe"}, "protect", "must be true or false"),
    ({"alerts": {"emails": ["not-an-address"]}}, "alerts.emails.0", "must be an e-mail address"),
    ({"alerts": {"slackWebhooks": [{"url": "http://example.com", "channel": "#ops"}]}},
     "alerts.slackWebhooks.0.url", "Slack incoming-webhook URL"),
    ({"alerts": {"cpuPercent": 0}}, "alerts.cpuPercent", "between 1 and 100"),
    ({"runners": {"maxConcurrency": 0}}, "runners.maxConcurrency", "between 1 and 100"),
    ({"workers": 3}, "workers", "must be an object of settings"),
    ({"encryptionKey": "changeme"}, "encryptionKey", "is a placeholder"),
    ({"encryptionKey": "<REQUIRED>"}, "encryptionKey", "is a placeholder"),
    ({"encryptionKey": "too-short-but-real-9f8e"}, "encryptionKey", "it needs at least 32"),
    ({"runnerAuthTokens": {"n8n-worker-7": "x" * 40}}, "runnerAuthTokens.n8n-worker-7", "names no task broker"),
    ({"encryptionKey": "s" * 40, "runnerAuthTokens": {"n8n-worker-1": "s" * 40}},
     "runnerAuthTokens.n8n-worker-1", "must differ from encryptionKey"),
    ({"unknownThing": 1}, "unknownThing", "is not a setting"),
]


@pytest.mark.parametrize("overrides,key,fragment", INVALID, ids=[case[1] + "|" + case[2][:24] for case in INVALID])
def test_invalid_settings_name_the_key_and_the_fix(overrides, key, fragment):
    with pytest.raises(SettingsError) as err:
        settings_with(overrides)
    message = str(err.value)
    lines = [line for line in message.splitlines() if line.startswith(f"  - {key}: ")]
    assert lines, f"no problem names {key}:\n{message}"
    assert any(fragment in line for line in lines), message
    assert "Traceback" not in message and "pydantic" not in message.lower()
    assert "Pulumi.prod.yaml" in message


def test_there_are_at_least_25_distinct_invalid_cases():
    assert len(INVALID) >= 25


def test_every_problem_is_reported_at_once():
    with pytest.raises(SettingsError) as err:
        settings_with({"region": "ams", "workers": {"pairs": 0, "size": "x"}, "n8n": {"version": "latest"},
                       "postgres": {"nodes": 9}})
    keys = {p.key for p in err.value.problems}
    assert {"region", "workers.pairs", "workers.size", "n8n.version", "postgres.nodes"} <= keys


def test_cross_checks_are_all_reported_too():
    with pytest.raises(SettingsError) as err:
        settings_with({"main": {"instances": 2}, "postgres": {"size": "db-s-1vcpu-1gb", "nodes": 2},
                       "workers": {"concurrency": 1}, "encryptionKey": "changeme"})
    keys = {p.key for p in err.value.problems}
    assert {"main.instances", "postgres.nodes", "workers.concurrency", "encryptionKey"} <= keys


def test_secret_values_are_never_echoed():
    secret = "hunter2-is-my-password"
    with pytest.raises(SettingsError) as err:
        settings_with({"encryptionKey": secret})
    assert secret not in str(err.value)
    assert "got a 22-character value" in str(err.value)


def test_multi_main_with_a_license_may_autoscale_main():
    s = settings_with({"n8n": {"multiMain": True}, "licenseKey": "L" * 40,
                       "main": {"autoscaling": {"minInstances": 2, "maxInstances": 3}}})
    assert s.main.autoscaling.max_instances == 3


def test_webhook_processors_may_autoscale_without_an_instance_count():
    # `processors` defaults to 0; with autoscaling that means "autoscaled processors", not instance_count 0.
    s = settings_with({"webhooks": {"size": "apps-d-1vcpu-1gb", "autoscaling": {"minInstances": 1, "maxInstances": 3}}})
    assert s.webhooks.autoscaling.max_instances == 3


def test_unknown_stack_names_the_stacks_that_exist():
    with pytest.raises(SettingsError) as err:
        settings_from_file("qa")
    assert "prod" in str(err.value) and "staging" in str(err.value)

