"""App Platform's health checks, evaluated as the platform evaluates them, for the fault drills.

A spec check (`health_check` = readiness, `liveness_health_check` = restart) is probed over HTTP every
`period_seconds` once `initial_delay_seconds` have passed since the container started; a probe that
does not answer 200 within `timeout_seconds` fails. Readiness passes after `success_threshold`
consecutive successes and fails after `failure_threshold` consecutive failures (a new instance starts
not ready); liveness calls for a restart after `failure_threshold` consecutive failures. Defaults are
DigitalOcean's (OpenAPI app spec / godo field comments) for a check that leaves a field out.

Pure: the clock is passed in, so the rules are tested without a process (tests/test_drills.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

READINESS = "health_check"
LIVENESS = "liveness_health_check"

# godo apps.gen.go field comments: AppServiceSpecHealthCheck and HealthCheckSpec defaults.
DEFAULTS = {
    READINESS: {"initial_delay_seconds": 0, "period_seconds": 10, "timeout_seconds": 1, "success_threshold": 1,
                "failure_threshold": 9},
    LIVENESS: {"initial_delay_seconds": 5, "period_seconds": 10, "timeout_seconds": 1, "success_threshold": 1,
               "failure_threshold": 18},
}


@dataclass(frozen=True)
class Probe:
    kind: str  # READINESS or LIVENESS
    port: int  # the spec's port
    path: str
    initial_delay: float
    period: float
    timeout: float
    success_threshold: int
    failure_threshold: int

    @classmethod
    def from_spec(cls, kind: str, component: dict) -> Probe | None:
        check = component.get(kind)
        if not check:
            return None
        value = {**DEFAULTS[kind], **check}
        return cls(kind, int(value.get("port") or component["http_port"]), value.get("http_path", "/"),
                   float(value["initial_delay_seconds"]), float(value["period_seconds"]),
                   float(value["timeout_seconds"]), int(value["success_threshold"]), int(value["failure_threshold"]))


@dataclass
class ProbeState:
    """One probe of one running container."""

    probe: Probe
    started: float  # when the container started (monotonic seconds)
    passing: bool = False
    successes: int = 0
    failures: int = 0
    next_at: float = field(init=False)

    def __post_init__(self) -> None:
        self.next_at = self.started + self.probe.initial_delay

    def due(self, now: float) -> bool:
        return now >= self.next_at

    def record(self, ok: bool, now: float) -> None:
        self.next_at = now + self.probe.period
        if ok:
            self.successes, self.failures = self.successes + 1, 0
            self.passing = self.passing or self.successes >= self.probe.success_threshold
        else:
            self.successes, self.failures = 0, self.failures + 1
            self.passing = self.passing and self.failures < self.probe.failure_threshold

    @property
    def calls_for_restart(self) -> bool:
        return self.probe.kind == LIVENESS and self.failures >= self.probe.failure_threshold
