"""Where App Platform's ingress sends a request path: the one answer the App spec builder, the policy pack
and the rehearsal's edge share. Stdlib only: the policy pack imports it.

App Platform matches `ingress.rules[].match.path.prefix` (DigitalOcean OpenAPI app_ingress_spec_rule:
"`/api` will match `/api`, `/api/`, and any nested paths"); the longest matching prefix wins, and a rule
either forwards to a `component` or answers with a `redirect` (only one of the two may be set).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Route:
    prefix: str
    component: str | None = None  # forwarded to this component ...
    redirect: Mapping[str, Any] | None = None  # ... or answered with this redirect

    @property
    def public_component(self) -> str | None:
        return None if self.redirect else self.component


def routes(spec: Mapping[str, Any]) -> list[Route]:
    """The spec's ingress rules (API or engine spelling) as routes; rules that are not path rules are skipped."""
    ingress = spec.get("ingress") or {}
    found = []
    for rule in (ingress.get("rules") or []) if isinstance(ingress, Mapping) else []:
        prefix = ((rule.get("match") or {}).get("path") or {}).get("prefix") if isinstance(rule, Mapping) else None
        if not isinstance(prefix, str):
            continue
        target = rule.get("component") or {}
        found.append(Route(prefix, target.get("name") if isinstance(target, Mapping) else None,
                           rule.get("redirect") or None))
    return found


def route_for(rules: Sequence[Route], path: str) -> Route | None:
    """The rule App Platform applies to `path`: the longest matching prefix, or None (App Platform's 404)."""
    found = [r for r in rules if path.startswith(r.prefix)]
    return max(found, key=lambda r: len(r.prefix)) if found else None


def spec_route(spec: Mapping[str, Any], path: str) -> Route | None:
    return route_for(routes(spec), path)


def redirect_rule(prefix: str, uri: str, code: int = 302) -> dict:
    """An ingress rule that answers `prefix` with a redirect instead of forwarding it (API spelling)."""
    return {"match": {"path": {"prefix": prefix}}, "redirect": {"uri": uri, "redirect_code": code}}
