"""Reachability from outside: a DigitalOcean uptime check on main's public /healthz and its alerts (down,
latency, TLS certificate expiry) to the stack's alert destinations.

pulumi-digitalocean 4.84.1: `UptimeCheck(target, type, name, regions, enabled)`; `UptimeAlert(check_id,
type in latency|down|down_global|ssl_expiry, notifications (required), comparison, period, threshold)`
— threshold in milliseconds for latency, in days for ssl_expiry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import pulumi
import pulumi_digitalocean as do

from platform_model import catalog
from settings.model import AlertSettings, Settings, UptimeSettings


def uptime_notifications(a: AlertSettings) -> dict | None:
    if not a.emails and not a.slack_webhooks:
        return None
    return {"emails": list(a.emails), "slacks": [{"url": w.url, "channel": w.channel} for w in a.slack_webhooks]}


def uptime_alerts(u: UptimeSettings) -> dict[str, dict]:
    """Alert name suffix -> UptimeAlert inputs besides the check and notifications."""
    return {
        "down": {"type": "down_global", "period": u.period},
        "latency": {"type": "latency", "comparison": "greater_than", "threshold": u.latency_ms, "period": u.period},
        "tls-expiry": {"type": "ssl_expiry", "comparison": "less_than", "threshold": u.tls_expiry_days,
                       "period": u.period},
    }


@dataclass
class UptimeArgs:
    settings: Settings
    app_url: pulumi.Input[str]  # the app's live URL (https://...)


class Uptime(pulumi.ComponentResource):
    def __init__(self, name: str, args: UptimeArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("n8n-platform:uptime:Uptime", name, None, opts)
        s, child = args.settings, pulumi.ResourceOptions(parent=self)
        u = s.observability.uptime
        self.check = do.UptimeCheck(
            f"{name}-check", name=f"{s.app_name} main", type="https", regions=list(u.regions), enabled=True,
            # /healthz is public on purpose: it says only "n8n's HTTP server answers" (docs/observability.md).
            target=pulumi.Output.from_input(args.app_url).apply(lambda url: url.rstrip("/") + catalog.LIVENESS_PATH),
            opts=child)
        notifications = uptime_notifications(s.alerts)
        self.alerts = [] if notifications is None else [
            do.UptimeAlert(f"{name}-{suffix}", check_id=self.check.id, name=f"{s.app_name} {suffix}",
                           # The dict UptimeAlertNotificationArgsDict describes (builders/observability.py).
                           notifications=[cast("do.UptimeAlertNotificationArgsDict", notifications)], opts=child,
                           **inputs)
            for suffix, inputs in uptime_alerts(u).items()
        ]
        self.register_outputs({"check_id": self.check.id, "target": self.check.target})
