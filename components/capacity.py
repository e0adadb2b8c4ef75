"""Capacity arithmetic, pure: what a topology needs from PostgreSQL, with the working shown.

Shared by the settings validation (from settings) and the policy pack (from registered resources), so
both compute the same numbers. Stdlib only: the policy pack imports it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from . import catalog

# Connections kept free for n8n's migrations at start-up, `psql` sessions and DigitalOcean's own
# maintenance beyond the 3 it already reserves.
CONNECTION_HEADROOM = 5


@dataclass(frozen=True)
class ConnectionBudget:
    needed: int
    limit: int
    working: str  # the arithmetic, for error messages and reports

    @property
    def fits(self) -> bool:
        return self.needed <= self.limit


def connection_budget(processes: Mapping[str, tuple[int, int]], database_size: str) -> ConnectionBudget:
    """`processes` maps each n8n component to (DB_POSTGRESDB_POOL_SIZE, instances at maximum scale)."""
    limit = catalog.DATABASE_SIZES[database_size].postgres_connection_limit
    terms = [f"{name} {pool}×{instances}" for name, (pool, instances) in processes.items()]
    needed = sum(pool * instances for pool, instances in processes.values()) + CONNECTION_HEADROOM
    working = (f"{' + '.join(terms)} + {CONNECTION_HEADROOM} headroom = {needed} connections; "
               f"{database_size} allows {limit}")
    return ConnectionBudget(needed, limit, working)
