"""The capacity rules: PostgreSQL connections (with and without a PgBouncer pool), execution and Code-node
capacity, worker memory — and where their verdicts surface (settings errors, warnings, outputs)."""

import pytest

from builders import env
from builders.deployment import deployment_from_settings
from offline.render import main as render_main
from offline.render import offline_spec
from platform_model import capacity, catalog
from platform_model.capacity import connection_budget
from platform_model.catalog import CONNECTION_POOL as POOL
from platform_model.deployment import from_app_spec
from settings.model import SettingsError
from stack.loader import load_settings
from stackrun import app_spec, component, env_of, run_stack, stack_config


def settings(overrides=None, stack="prod"):
    return load_settings(stack_config(stack, overrides), stack)


def problems_of(overrides, stack="prod"):
    with pytest.raises(SettingsError) as err:
        settings(overrides, stack)
    return err.value


# --- connections -----------------------------------------------------------------------------------


def test_budget_counts_every_process_twice_for_the_rolling_deploy_plus_headroom():
    b = connection_budget({"n8n-main": (2, 1), "n8n-worker-1": (2, 1), "n8n-webhook": (3, 4)}, "db-s-1vcpu-1gb")
    assert b.needed == (2 * 1 + 2 * 1 + 3 * 4) * 2 + 5 == 37
    assert b.limit == 25 * 1 - 3 == 22 and not b.fits
    assert b.working == ("(n8n-main 2×1 + n8n-worker-1 2×1 + n8n-webhook 3×4) = 16 connections × 2 while a rolling "
                         "deploy runs old and new instances + 5 headroom = 37; "
                         "db-s-1vcpu-1gb allows 22 (25 × 1 GiB − 3)")


def test_with_a_pool_only_its_server_connections_count():
    b = connection_budget({"n8n-main": (2, 1), "n8n-worker-1": (2, 1)}, "db-s-1vcpu-2gb", pool_size=30)
    assert (b.needed, b.limit, b.fits) == (30 + 5, 25 * 2 - 3, True)
    assert "8 client connections to the PgBouncer pool, which opens 30 server connections" in b.working
    assert capacity.default_pool_size("db-s-1vcpu-2gb") == 47 - 5


def test_standby_nodes_add_no_connections():
    one = capacity.deployment_connection_budget(
        deployment_from_settings(settings({"postgres": {"size": "db-s-1vcpu-2gb", "nodes": 1}})))
    three = capacity.deployment_connection_budget(
        deployment_from_settings(settings({"postgres": {"size": "db-s-1vcpu-2gb", "nodes": 3}})))
    assert one.limit == three.limit == 47


def test_shipped_stacks_fit_their_clusters():
    for stack, needed, limit in (("prod", (2 + 2 * 2) * 2 + 5, 97), ("staging", (2 + 2) * 2 + 5, 22)):
        b = capacity.deployment_connection_budget(deployment_from_settings(settings(stack=stack)))
        assert (b.needed, b.limit) == (needed, limit), stack


def test_too_many_connections_fail_validation_showing_the_arithmetic():
    # staging's 1 GiB cluster (22 connections) with 4 pairs: (main + 4 workers) × 2 × 2 + 5 = 25.
    err = problems_of({"workers": {"pairs": 4}}, "staging")
    [p] = [p for p in err.problems if p.key == "postgres.size"]
    assert "(n8n-main 2×1 + n8n-worker-1 2×1 + n8n-worker-2 2×1 + n8n-worker-3 2×1 + n8n-worker-4 2×1) = 10 " \
           "connections × 2 while a rolling deploy runs old and new instances + 5 headroom = 25; " \
           "db-s-1vcpu-1gb allows 22 (25 × 1 GiB − 3)" in str(p)
    assert "postgres.connectionPool" in str(p) and "n8n.dbPoolSize" in str(p)


def test_autoscaled_processes_count_at_their_maximum():
    err = problems_of({"webhooks": {"size": "apps-d-1vcpu-1gb", "autoscaling": {"maxInstances": 3}}}, "staging")
    assert "n8n-webhook 2×3" in str(err)


def test_a_pool_lets_the_same_stack_through_and_n8n_connects_to_it():
    overrides = {"workers": {"pairs": 4}, "postgres": {"connectionPool": {"mode": "transaction"}}}
    s = settings(overrides, "staging")
    assert capacity.deployment_connection_budget(deployment_from_settings(s)).fits
    run = run_stack("staging", overrides)
    [pool] = run.of_type(POOL)
    assert pool.inputs["mode"] == "transaction" and pool.inputs["size"] == 22 - 5
    assert pool.inputs["name"] == "n8n-pool" and pool.inputs["user"] == "n8n" and pool.inputs["dbName"] == "n8n"
    cluster = next(r for r in run.resources if r.type.endswith("DatabaseCluster") and r.inputs["engine"] == "pg")
    assert cluster.urn in pool.property_dependencies["clusterId"]
    spec = app_spec(run)
    for name in ("n8n-main", "n8n-worker-1", "n8n-worker-4"):
        e = env_of(component(spec, name))
        # The pool's own bindable variables: App Platform resolves them as it resolves the cluster's.
        assert (e["DB_POSTGRESDB_HOST"], e["DB_POSTGRESDB_PORT"], e["DB_POSTGRESDB_DATABASE"]) == \
            ("${postgres.n8n-pool.HOSTNAME}", "${postgres.n8n-pool.PORT}", "n8n-pool")
        assert e["DB_POSTGRESDB_USER"] == "${postgres.USERNAME}" and e["DB_POSTGRESDB_SSL_CA"] == "${postgres.CA_CERT}"
    assert pool.urn in run.one("digitalocean:index/app:App").dependencies, \
        "the app must wait for the pool its spec binds by name"
    # The pre-deploy job still talks to the cluster directly, and pins n8n's statement timeout as the default.
    job = env_of(component(spec, "n8n-db-grants"))
    assert job["PGHOST"] == "${postgres.HOSTNAME}"
    assert job["DB_GRANTS_SQL"] == env.DB_GRANTS_SQL + " ALTER DATABASE n8n SET statement_timeout = 300000;"


def test_without_a_pool_nothing_changes(prod):
    assert not prod.of_type(POOL)
    e = env_of(component(app_spec(prod), "n8n-worker-1"))
    assert (e["DB_POSTGRESDB_HOST"], e["DB_POSTGRESDB_PORT"], e["DB_POSTGRESDB_DATABASE"]) == \
        ("${postgres.HOSTNAME}", "${postgres.PORT}", "${postgres.DATABASE}")
    assert env_of(component(app_spec(prod), "n8n-db-grants"))["DB_GRANTS_SQL"] == env.DB_GRANTS_SQL


def test_session_mode_leaves_the_database_default_alone_and_warns_when_clients_wait():
    s = settings({"workers": {"pairs": 4}, "postgres": {"connectionPool": {"mode": "session", "size": 10}}}, "staging")
    assert env.db_setup_sql(s) == env.DB_GRANTS_SQL
    [warning] = capacity.capacity_warnings(deployment_from_settings(s))
    assert "up to 20 client connections holds one of the pool's 10 server connections" in warning


def test_rendered_spec_with_a_pool_is_complete_without_pulumi():
    spec = offline_spec(settings({"postgres": {"connectionPool": {}}}))
    e = {x["key"]: x["value"] for x in spec["services"][0]["envs"]}
    assert e["DB_POSTGRESDB_HOST"] == "${postgres.n8n-pool.HOSTNAME}"
    assert e["DB_POSTGRESDB_DATABASE"] == "n8n-pool"
    assert not [v for c in spec["services"] for v in (x["value"] for x in c["envs"])
                if str(v).startswith("<") and not str(v).startswith("<redacted")]


@pytest.mark.parametrize("overrides,key,fragment", [
    ({"postgres": {"connectionPool": {"mode": "statement"}}}, "postgres.connectionPool.mode",
     "must be one of the PgBouncer modes n8n works with: transaction, session"),
    ({"postgres": {"connectionPool": {"size": 95}}}, "postgres.connectionPool.size",
     "95 + 5 headroom = 100; db-s-2vcpu-4gb allows 97"),
    ({"postgres": {"connectionPool": {"size": 0}}}, "postgres.connectionPool.size", "between 1 and 5000"),
    ({"postgres": {"connectionPool": {"mod": "session"}}}, "postgres.connectionPool.mod", "did you mean mode?"),
])
def test_bad_pool_settings_name_the_key(overrides, key, fragment):
    err = problems_of(overrides)
    assert any(p.startswith(f"  - {key}: ") and fragment in p for p in str(err).splitlines()), str(err)


def test_pool_modes_exclude_statement_pooling():
    assert catalog.POOL_MODES == ("transaction", "session") and catalog.DEFAULT_POOL_MODE == "transaction"


# --- executions, runners, memory -------------------------------------------------------------------


def test_execution_capacity_is_pairs_times_concurrency():
    c = capacity.execution_capacity(deployment_from_settings(settings({"workers": {"pairs": 3, "concurrency": 15},
                                              "runners": {"maxConcurrency": 5, "size": "apps-d-1vcpu-1gb",
                                                          "autoscaling": {"maxInstances": 3}}})))
    assert (c.concurrent_executions, c.runner_slots, c.code_covered) == (45, 15, True)


def test_runners_short_of_the_workers_concurrency_warn_without_failing():
    s = settings({"workers": {"concurrency": 20}, "runners": {"maxConcurrency": 10}})
    [warning] = capacity.capacity_warnings(deployment_from_settings(s))
    assert "up to 20 executions (workers.concurrency) but its runner pool takes at most 10" in warning
    assert "Task request timed out" in warning


def test_capacity_warnings_reach_the_stack_output_and_the_render_summary(capsys):
    run = run_stack("prod", {"workers": {"concurrency": 20}, "runners": {"maxConcurrency": 10}})
    out = run.outputs["capacity"]
    assert out["concurrent_executions"] == 40 and out["runner_slots_per_pair"] == 10
    assert len(out["warnings"]) == 1
    assert render_main(["prod"]) == 0  # the shipped stack: no warnings
    assert "warning:" not in capsys.readouterr().err


def test_worker_memory_rule_of_thumb():
    assert capacity.worker_memory_mib(10) == 450 + 10 * 32
    assert capacity.usable_memory_mib("apps-d-1vcpu-1gb") == int(1024 * 0.8)
    assert capacity.max_concurrency_for("apps-d-1vcpu-1gb") == (819 - 450) // 32 == 11
    assert capacity.memory_warning("apps-d-1vcpu-1gb", 11) is None
    warning = capacity.memory_warning("apps-d-1vcpu-1gb", 12)
    assert "needs about 834 MiB" in warning and "at most 11 (workers.concurrency)" in warning
    s = settings({"workers": {"size": "apps-s-1vcpu-1gb", "concurrency": 40}})
    assert any("workers.size" in w for w in capacity.capacity_warnings(deployment_from_settings(s)))


# --- the same deployment read from an App spec: what the policy pack will count -------------------


@pytest.mark.parametrize("overrides", [
    {},
    {"webhooks": {"size": "apps-d-1vcpu-1gb", "autoscaling": {"maxInstances": 3}}, "n8n": {"dbPoolSize": 3}},
    {"n8n": {"offloadManualExecutions": False}, "workers": {"pairs": 3}},
])
def test_the_app_spec_reads_as_the_deployment_the_settings_describe(overrides):
    s = settings(overrides)
    spec = app_spec(run_stack("prod", overrides))  # camelCase, as a policy receives it
    expected = deployment_from_settings(s)
    for read in (from_app_spec(spec), from_app_spec(offline_spec(s))):  # engine shape, API shape
        assert read.components == expected.components
        assert capacity.processes(read) == capacity.processes(expected)


def test_runner_shortfall_read_from_the_app_spec_names_each_pool():
    overrides = {"workers": {"concurrency": 20}, "runners": {"maxConcurrency": 10}}
    spec = app_spec(run_stack("prod", overrides))
    warnings = capacity.runner_warnings(from_app_spec(spec))
    assert [w.split(":")[0] for w in warnings] == ["n8n-runners-1", "n8n-runners-2"]
    assert warnings[0].endswith(capacity.runner_warning(capacity.execution_capacity(
        deployment_from_settings(settings(overrides)))))
    assert capacity.runner_warnings(from_app_spec(offline_spec(settings()))) == []
    # main's own pool (offload off) is not held to a production concurrency limit
    off = offline_spec(settings({"n8n": {"offloadManualExecutions": False}, "runners": {"maxConcurrency": 5}}))
    assert [w.split(":")[0] for w in capacity.runner_warnings(from_app_spec(off))] == ["n8n-runners-1", "n8n-runners-2"]
