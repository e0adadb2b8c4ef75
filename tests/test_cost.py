"""The price table and the cost model: pinned costs of the shipped stacks and of DigitalOcean's template,
minimum vs maximum scale, price overrides, the budget check, and the cost as a stack output."""

import pytest
import yaml

from builders.deployment import deployment_from_settings, stack_cost
from offline.cost import main as cost_main
from offline.render import main as render_main
from offline.render import offline_spec
from platform_model import catalog
from platform_model.deployment import Cluster, from_app_spec
from platform_model.pricing import REFERENCE_TEMPLATE, load_prices, monthly_cost, over_budget
from settings.model import SettingsError
from stack.loader import load_settings, settings_from_file
from stackrun import app_spec, run_stack, stack_config

# The pre-deploy job: 30 assumed deployments × 60 billed seconds × apps-s-1vcpu-0.5gb's $0.000002066799/s.
JOB = 30 * 60 * 0.000002066799
BACKUPS = 5 + 5  # the n8n-backup worker (apps-s-1vcpu-0.5gb) and the Spaces subscription


def settings(overrides=None, stack="prod"):
    return load_settings(stack_config(stack, overrides), stack)


# --- the table -------------------------------------------------------------------------------------


def test_every_size_the_settings_accept_has_a_price():
    prices = load_prices()
    assert set(prices.app) == set(catalog.APP_SIZES)
    for engine in ("postgres", "valkey"):
        assert set(prices.database[engine]) == set(catalog.DATABASE_SIZES)


def test_per_second_prices_are_the_monthly_price_over_28_days():
    # DigitalOcean caps App Platform components at the monthly price after 28 days; a typo in either column
    # breaks this identity.
    prices = load_prices()
    for slug, price in prices.app.items():
        assert price.usd / prices.app_per_second[slug] == pytest.approx(28 * 86_400, rel=1e-6), slug


def test_every_figure_names_a_source_and_database_prices_are_marked_unconfirmed():
    prices = load_prices()
    figures = list(prices.app.values()) + [p for e in prices.database.values() for p in e.values()]
    figures += [prices.vpc, prices.bandwidth_overage]
    assert all(f.source in prices.sources for f in figures)
    assert all(p.confirmed for p in prices.app.values()), "App Platform prices come from DigitalOcean's OpenAPI"
    assert not any(p.confirmed for e in prices.database.values() for p in e.values())
    assert prices.as_of == "2026-08-07"


def test_app_platform_prices_are_designs_figures_plus_the_fixed_sizes():
    usd = {slug: p.usd for slug, p in load_prices().app.items()}
    assert usd == {
        "apps-s-1vcpu-0.5gb": 5, "apps-s-1vcpu-1gb-fixed": 10, "apps-s-1vcpu-1gb": 12, "apps-s-1vcpu-2gb": 25,
        "apps-s-2vcpu-4gb": 50, "apps-d-1vcpu-0.5gb": 29, "apps-d-1vcpu-1gb": 34, "apps-d-1vcpu-2gb": 39,
        "apps-d-1vcpu-4gb": 49, "apps-d-2vcpu-4gb": 78, "apps-d-2vcpu-8gb": 98, "apps-d-4vcpu-8gb": 156,
        "apps-d-4vcpu-16gb": 196, "apps-d-8vcpu-32gb": 392,
    }


# --- acceptance: pinned costs --------------------------------------------------------------------------


def test_prod_costs_what_the_table_says():
    cost = stack_cost(settings_from_file("prod"))
    hand = (
        39                # n8n-main: apps-d-1vcpu-2gb × 1
        + 2 * 39          # n8n-worker-1, -2: apps-d-1vcpu-2gb × 1 each
        + 2 * 34          # n8n-runners-1, -2: apps-d-1vcpu-1gb × 1 each
        + JOB             # n8n-db-grants
        + 2 * 60          # PostgreSQL db-s-2vcpu-4gb, primary + standby
        + 2 * 30          # Valkey db-s-1vcpu-2gb, primary + standby
        + 0               # VPC
        + BACKUPS         # n8n-backup worker and the Spaces subscription
    )
    assert cost.minimum == cost.maximum == round(hand, 2) == 375.00


def test_staging_costs_what_the_table_says():
    cost = stack_cost(settings_from_file("staging"))
    hand = 25 + 25 + 12 + JOB + 15 + 15  # main, worker (apps-s-1vcpu-2gb), runners (apps-s-1vcpu-1gb), job, pg, valkey
    assert cost.minimum == cost.maximum == round(hand, 2) == 92.00


def test_digitaloceans_template_costs_several_times_its_advertised_base():
    cost = monthly_cost(REFERENCE_TEMPLATE, load_prices())
    assert cost.minimum == 4 * 34 * 1 + 15 + 15 == 166.00  # four apps-d-1vcpu-1gb at 1 instance, 1 GiB pg + valkey
    assert cost.maximum == 4 * 34 * 2 + 15 + 15 == 302.00  # each scaled to 2


def test_minimum_and_maximum_follow_autoscaling_and_nodes():
    s = settings({"runners": {"autoscaling": {"minInstances": 1, "maxInstances": 3}},
                  "webhooks": {"size": "apps-d-1vcpu-1gb", "autoscaling": {"minInstances": 2, "maxInstances": 4}},
                  "postgres": {"nodes": 3}})
    items = {i.name: i for i in stack_cost(s).items}
    assert (items["n8n-runners-1"].min_usd, items["n8n-runners-1"].max_usd) == (34, 3 * 34)
    assert (items["n8n-webhook"].min_usd, items["n8n-webhook"].max_usd) == (2 * 34, 4 * 34)
    assert items["postgres"].min_usd == items["postgres"].max_usd == 3 * 60
    cost = stack_cost(s)
    assert cost.maximum - cost.minimum == 2 * (2 * 34) + 2 * 34  # two pools grow by 2, webhooks by 2


def test_a_stack_can_override_any_price():
    s = settings({"cost": {"prices": {"app": {"apps-d-1vcpu-2gb": 40}, "postgres": {"db-s-2vcpu-4gb": 61.5},
                                      "valkey": {"db-s-1vcpu-2gb": 32}}}})
    cost = stack_cost(s)
    assert cost.maximum == round(3 * 40 + 2 * 34 + JOB + 2 * 61.5 + 2 * 32 + BACKUPS, 2)
    items = {i.name: i for i in cost.items}
    assert items["postgres"].confirmed and items["valkey"].confirmed, "the stack's own figure is not a guess"
    # Overriding the price of one engine's plan leaves the other engine's price for that plan alone.
    s2 = settings({"valkey": {"size": "db-s-2vcpu-4gb"}, "cost": {"prices": {"postgres": {"db-s-2vcpu-4gb": 1}}}})
    assert {i.name: i.max_usd for i in stack_cost(s2).items}["valkey"] == 2 * 60


@pytest.mark.parametrize("overrides,key,fragment", [
    ({"cost": {"prices": {"app": {"apps-d-9vcpu-1gb": 10}}}}, "cost.prices.app.apps-d-9vcpu-1gb",
     "must be one of the App Platform instance sizes"),
    ({"cost": {"prices": {"postgres": {"db-s-1vcpu-2gb": -3}}}}, "cost.prices.postgres.db-s-1vcpu-2gb",
     "must be between 0 and 1000000 (got -3)"),
    ({"cost": {"prices": {"redis": {}}}}, "cost.prices.redis", "is not a setting"),
    ({"cost": {"monthlyBudget": "lots"}}, "cost.monthlyBudget", "(got \"lots\")"),
    ({"cost": {"monthlyBudget": 0}}, "cost.monthlyBudget", "must be between 1 and 1000000"),
])
def test_bad_cost_settings_name_the_key(overrides, key, fragment):
    with pytest.raises(SettingsError) as err:
        settings(overrides)
    assert any(p.startswith(f"  - {key}: ") and fragment in p for p in str(err.value).splitlines()), str(err.value)


# --- the budget ------------------------------------------------------------------------------------


def test_over_budget_says_by_how_much_and_what_drives_it():
    cost = stack_cost(settings_from_file("prod"))
    assert over_budget(cost, None) is None
    assert over_budget(cost, 375) is None
    message = over_budget(cost, 300)
    assert "$375.00/month, $75.00 over its budget of $300.00 (cost.monthlyBudget)" in message
    assert "postgres db-s-2vcpu-4gb × 2 nodes $120.00" in message


# --- where the cost shows up -----------------------------------------------------------------------


def test_the_model_prices_exactly_what_the_app_spec_deploys(prod):
    # From the spec the engine received (camelCase) and from the API-shape spec: same components.
    s = settings({"webhooks": {"processors": 2}, "runners": {"autoscaling": {"maxInstances": 3}}})
    clusters = deployment_from_settings(s).clusters
    from_api = from_app_spec(offline_spec(s), clusters)
    assert sorted(from_api.components, key=lambda c: c.name) == \
        sorted(deployment_from_settings(s).components, key=lambda c: c.name)
    assert from_api.jobs == deployment_from_settings(s).jobs and from_api.vpc
    s_prod = settings_from_file("prod")
    from_engine = from_app_spec(app_spec(prod), deployment_from_settings(s_prod).clusters,
                                spaces=deployment_from_settings(s_prod).spaces)
    assert from_engine.vpc
    assert monthly_cost(from_engine, load_prices()).maximum == stack_cost(s_prod).maximum


def test_cost_is_a_stack_output(prod):
    out = prod.outputs["monthly_cost"]
    assert out["currency"] == "USD" and out["min"] == out["max"] == 375.00
    assert out["components"]["postgres"] == {"what": "db-s-2vcpu-4gb × 2 nodes", "min": 120.0, "max": 120.0}
    assert "postgres" in out["unconfirmed_prices"] and "n8n-main" not in out["unconfirmed_prices"]
    assert out["budget"] == 450  # Pulumi.prod.yaml's cost.monthlyBudget
    budgeted = run_stack("staging", {"cost": {"monthlyBudget": 100}}).outputs["monthly_cost"]
    assert budgeted["budget"] == 100 and budgeted["max"] == 92.00
    assert "budget" not in run_stack("staging", {"cost": {"monthlyBudget": None}}).outputs["monthly_cost"]


def test_render_prints_cost_to_stderr_and_keeps_stdout_yaml(capsys):
    assert render_main(["staging"]) == 0
    out, err = capsys.readouterr()
    assert yaml.safe_load(out)["name"] == "n8n-staging"
    assert "$92.00/month at minimum scale, $92.00 at maximum" in err
    assert "PostgreSQL connections: 13 of 22" in err
    assert render_main(["staging", "-q"]) == 0
    assert capsys.readouterr().err == ""


def test_cost_command_prints_the_readme_table(capsys):
    assert cost_main(["prod", "staging", "--reference", "--markdown"]) == 0
    table = capsys.readouterr().out
    assert "| `Pulumi.prod.yaml` | $375.00 | $375.00 |" in table
    assert "| `Pulumi.staging.yaml` | $92.00 | $92.00 |" in table
    assert "| DigitalOcean template (production.yaml) | $166.00 | $302.00 |" in table


def test_cost_docs_show_the_costs_the_model_computes():
    from pathlib import Path

    section = (Path(__file__).parent.parent / "docs" / "cost-and-capacity.md").read_text()
    for name, stack in (("`Pulumi.prod.yaml`", "prod"), ("`Pulumi.staging.yaml`", "staging")):
        cost = stack_cost(settings_from_file(stack))
        assert f"| {name} | ${cost.minimum:,.2f} | ${cost.maximum:,.2f} |" in section, name
    ref = monthly_cost(REFERENCE_TEMPLATE, load_prices())
    assert f"${ref.minimum:,.2f} | ${ref.maximum:,.2f} |" in section


def test_reference_template_is_four_dedicated_components_and_two_small_databases():
    assert [(c.size, c.min_instances, c.max_instances) for c in REFERENCE_TEMPLATE.components] == \
        [("apps-d-1vcpu-1gb", 1, 2)] * 4
    assert REFERENCE_TEMPLATE.clusters == (Cluster("n8n-postgres", catalog.POSTGRES, "db-s-1vcpu-1gb", 1),
                                           Cluster("n8n-redis", catalog.VALKEY, "db-s-1vcpu-1gb", 1))
