"""The second phase of loading a stack's settings: rules that relate settings to each other and to
DigitalOcean's and n8n's limits (the first phase, each value on its own, is the pydantic model in
settings/model.py). Every problem is collected; stack/loader.py raises them together."""

from __future__ import annotations

from builders.deployment import deployment_from_settings
from builders.names import cluster_name, topology_for
from platform_model import catalog, secret_strength
from platform_model.capacity import deployment_connection_budget
from settings.model import Autoscaling, Problem, Settings, check_https_url, check_syslog_endpoint, instance_range


def cross_check_problems(s: Settings) -> list[Problem]:
    """Rules that relate settings to each other and to DigitalOcean's and n8n's limits."""
    problems: list[Problem] = []
    add = problems.append

    vpc_datacenter = catalog.APP_VPC_DATACENTER.get(s.app_region)
    if s.app.vpc and vpc_datacenter != s.region:
        fix = f"set region: {vpc_datacenter}" if vpc_datacenter else "pick a region with App Platform VPCs"
        where = f"only VPCs in {vpc_datacenter}" if vpc_datacenter else "no VPC at all"
        add(Problem("app.vpc", f"an app in App Platform region {s.app_region} can join {where}, and the stack's "
                    f"VPC is in {s.region}; {fix} or leave app.vpc off", True))

    def check_scaling(section: str, size_slug: str, instances: int | None, auto: Autoscaling | None):
        size = catalog.APP_SIZES[size_slug]
        if auto is not None:
            if not size.dedicated:
                add(Problem(f"{section}.autoscaling",
                            f"needs a dedicated size (apps-d-*); {section}.size is {size_slug}, a shared "
                            "size App Platform cannot autoscale. Pick an apps-d-* size or remove autoscaling"))
            if auto.min_instances > auto.max_instances:
                add(Problem(f"{section}.autoscaling.minInstances",
                            f"must not exceed maxInstances ({auto.max_instances})", auto.min_instances))
            if instances not in (None, 1):
                add(Problem(f"{section}.instances",
                            "cannot be set together with autoscaling (App Platform rejects instance_count "
                            "with autoscaling); use autoscaling.minInstances", instances))
        top = instance_range(instances, auto)[1]
        if size.fixed and top > 1:
            add(Problem(f"{section}.size",
                        f"{size_slug} is a fixed size that runs one instance; {section} asks for {top}. "
                        "Pick apps-s-1vcpu-1gb or larger", size_slug))

    check_scaling("main", s.main.size, s.main.instances, s.main.autoscaling)
    check_scaling("runners", s.runners.size, s.runners.instances, s.runners.autoscaling)
    if s.webhooks.processors or s.webhooks.autoscaling:
        # processors: 0 with autoscaling means "autoscaled processors", not an instance count.
        check_scaling("webhooks", s.webhooks.size, s.webhooks.processors or None, s.webhooks.autoscaling)

    main_scales = s.main.instances > 1 or s.main.autoscaling is not None
    if main_scales and not s.n8n.multi_main:
        add(Problem("main.instances" if s.main.instances > 1 else "main.autoscaling",
                    "main must run exactly one instance: several mains need n8n's licensed multi-main "
                    "mode (set n8n.multiMain: true and licenseKey), otherwise schedules and webhooks "
                    "run twice", s.main.instances if s.main.instances > 1 else None))
    if main_scales and not s.n8n.offload_manual_executions:
        add(Problem("n8n.offloadManualExecutions",
                    "false gives main its own task broker, and a runner pool can only serve a broker "
                    "with exactly one instance; keep offload on when main scales", False))

    for section, db in (("postgres", s.postgres), ("valkey", s.valkey)):
        size = catalog.DATABASE_SIZES[db.size]
        if db.nodes > 1 and not size.allows_standby:
            add(Problem(f"{section}.nodes",
                        f"{db.size} allows no standby nodes (high availability needs a plan with at "
                        f"least 2 GiB, e.g. db-s-1vcpu-2gb); use nodes: 1 or a larger {section}.size",
                        db.nodes))

    if s.workers.concurrency < catalog.MIN_RECOMMENDED_CONCURRENCY:
        add(Problem("workers.concurrency",
                    f"must be at least {catalog.MIN_RECOMMENDED_CONCURRENCY}: n8n discourages lower "
                    "worker concurrency (it starves the queue); add worker pairs instead",
                    s.workers.concurrency))

    problems += _recovery_problems(s)
    digests = s.n8n.digests
    if digests is not None and digests.version != s.n8n.version:
        add(Problem("n8n.digests.version",
                    f"the digests were read for n8n {digests.version} but n8n.version is {s.n8n.version}: read "
                    f"both images' digests for {s.n8n.version} and set version: {s.n8n.version} with them, or "
                    "remove n8n.digests to deploy by tag", digests.version))

    problems += _connection_problems(s)
    problems += _secret_problems(s)
    problems += _observability_problems(s)
    return problems


def _observability_problems(s: Settings) -> list[Problem]:
    problems = _log_destination_problems(s)
    metrics = s.observability.metrics
    if metrics.remote is not None and not metrics.enabled:
        problems.append(Problem("observability.metrics.remote", "needs observability.metrics.enabled: true (the "
                                "collector has nothing to scrape otherwise); remove remote or enable metrics"))
    if s.metrics_authorization is not None and metrics.remote is None:
        problems.append(Problem("metricsAuthorization", "is set but observability.metrics.remote is not: set the "
                                "remote's endpoint or unset the secret"))
    return problems


# What each log destination needs besides its kind (App Platform log_destinations; pulumi-digitalocean
# 4.84.1 marks datadog.api_key, papertrail.endpoint and open_search.basic_auth required).
_LOG_NEEDS = {"datadog": (False, True), "papertrail": (True, False),
              "openSearch": (True, True)}  # kind -> (endpoint, secret)


def _log_destination_problems(s: Settings) -> list[Problem]:
    dest, key = s.observability.logs.destination, "observability.logs.destination"
    problems = _database_log_problems(s)
    if dest is None:
        return problems + ([Problem("logDestinationSecret", "is set but observability.logs.destination is not")]
                           if s.log_destination_secret is not None else [])
    needs_endpoint, needs_secret = _LOG_NEEDS[dest.kind]
    if needs_endpoint and not dest.endpoint:
        problems.append(Problem(f"{key}.endpoint", f"is required for {dest.kind}"))
    if dest.kind == "papertrail" and dest.endpoint:
        try:
            check_syslog_endpoint(dest.endpoint)
        except ValueError as err:
            problems.append(Problem(f"{key}.endpoint", str(err), dest.endpoint))
    elif dest.endpoint:
        try:
            check_https_url(dest.endpoint)
        except ValueError as err:
            problems.append(Problem(f"{key}.endpoint", str(err), dest.endpoint))
    if needs_secret and s.log_destination_secret is None:
        problems.append(Problem("logDestinationSecret", f"is required for a {dest.kind} log destination: "
                                "`pulumi config set --secret logDestinationSecret` (it prompts for the value)"))
    if not needs_secret and s.log_destination_secret is not None:
        problems.append(Problem("logDestinationSecret", f"is not used by {dest.kind}; unset it"))
    if dest.kind == "openSearch" and not dest.user:
        problems.append(Problem(f"{key}.user", "is required for openSearch (basic auth)"))
    return problems


def _database_log_problems(s: Settings) -> list[Problem]:
    """PostgreSQL's log sink goes where the app's logs go; DigitalOcean offers it for two of the three kinds."""
    logs, key = s.observability.logs, "observability.logs.database"
    if not logs.database:
        return []
    if logs.destination is None:
        return [Problem(key, "needs observability.logs.destination (the sink forwards PostgreSQL's logs there); "
                        "set a destination or remove database", True)]
    if logs.destination.kind == "datadog":
        return [Problem(key, "cannot forward PostgreSQL's logs to datadog: DigitalOcean's database log sinks "
                        "accept Datadog for MongoDB only (rsyslog or OpenSearch for PostgreSQL); use a "
                        "papertrail or openSearch destination, or set database: false", True)]
    return []


def _recovery_problems(s: Settings) -> list[Problem]:
    problems = []
    restore, replica = s.postgres.restore_from, s.postgres.replica
    if restore is not None and s.encryption_key is None:
        problems.append(Problem("postgres.restoreFrom", "restores credentials that only the source stack's key "
                                "can read: give this stack that key with `pulumi config set --secret "
                                "encryptionKey` (`pulumi stack output encryption_key --show-secrets -s <source>`)",
                                restore.cluster))
    if restore is not None and restore.cluster == cluster_name(s, catalog.POSTGRES):
        problems.append(Problem("postgres.restoreFrom.cluster", "is this stack's own cluster; a restore creates "
                                "a new cluster, so restore in a new stack (docs/backups.md)", restore.cluster))
    if replica is not None and replica.region == s.region:
        problems.append(Problem("postgres.replica.region", "is the stack's own region; a disaster-recovery "
                                "replica must live in another datacenter", replica.region))
    return problems


def _connection_problems(s: Settings) -> list[Problem]:
    budget = deployment_connection_budget(deployment_from_settings(s))
    if budget.fits:
        return []
    pool = s.postgres.connection_pool
    if pool is not None and pool.size is not None:
        return [Problem("postgres.connectionPool.size",
                        f"asks for more server connections than the cluster has: {budget.working}. Lower it "
                        "or leave it unset to use all the cluster allows", pool.size)]
    return [Problem("postgres.size",
                    f"has too few connections for n8n at maximum scale: {budget.working}. Pick a larger "
                    "postgres.size, lower n8n.dbPoolSize, or put a PgBouncer pool in front "
                    "(postgres.connectionPool: {mode: transaction})", s.postgres.size)]


def _secret_problems(s: Settings) -> list[Problem]:
    problems = []
    brokers = list(topology_for(s).brokers)
    values: dict[str, str] = {}
    if s.encryption_key is not None:
        values["encryptionKey"] = s.encryption_key.get_secret_value()
    for broker, token in s.runner_auth_tokens.items():
        key = f"runnerAuthTokens.{broker}"
        if broker not in brokers:
            problems.append(Problem(key, f"names no task broker of this stack; brokers are: {', '.join(brokers)}"))
            continue
        values[key] = token.get_secret_value()
    for key, value in values.items():
        weakness = secret_strength.weakness(value)
        if weakness:
            problems.append(Problem(key, f"{weakness}: generate one (`openssl rand -hex 32`) or unset it to have "
                                         "one generated", value, secret=True))
    seen: dict[str, str] = {}
    for key, value in values.items():
        if value in seen:
            problems.append(Problem(key, f"must differ from {seen[value]}: one secret per purpose and "
                                    "per broker, so a leaked runner token opens nothing else"))
        seen.setdefault(value, key)
    return problems + _license_problems(s) + _registry_problems(s)


def _license_problems(s: Settings) -> list[Problem]:
    key = s.license_key.get_secret_value() if s.license_key is not None else None
    if key is not None and secret_strength.is_placeholder(key):
        return [Problem("licenseKey", "is empty or a template placeholder: set your n8n license activation key "
                        "with `pulumi config set --secret licenseKey`, or unset it", key, secret=True)]
    if s.n8n.multi_main and key is None:
        return [Problem("n8n.multiMain", "needs an n8n license: set it with "
                        "`pulumi config set --secret licenseKey` (it prompts for the activation key)", True)]
    return []


def _registry_problems(s: Settings) -> list[Problem]:
    if s.docker_hub_credentials is None:
        return []
    value = s.docker_hub_credentials.get_secret_value()
    problem = secret_strength.registry_credentials_problem(value)
    if problem is None:
        return []
    return [Problem("dockerHubCredentials", f"{problem}. Create a read-only access token on Docker Hub (Account "
                    "settings, Personal access tokens) and store <username>:<token> with "
                    "`pulumi config set --secret dockerHubCredentials`, or unset it to pull anonymously",
                    value, secret=True)]
