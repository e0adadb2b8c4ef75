"""DigitalOcean's connection pool, played locally: Debian's PgBouncer in front of the rehearsal's
PostgreSQL, laid out as a managed pool is handed over, and the check that n8n's connections went
through it.

The layout, as far as DigitalOcean documents it (API "Add a New Connection Pool": name, mode, size,
db, user — "when [user is] excluded, all sessions connect to the database as the inbound user"):
  * one pool, named like `postgres.connectionPool`'s pool (`n8n-pool`, the database name clients ask
    for), in the stack's mode and size, in front of database `n8n`, server sessions as user `n8n`;
  * its own port, TLS only, with the same certificate as the cluster (so n8n verifies it with the same
    CA, `DB_POSTGRESDB_SSL_REJECT_UNAUTHORIZED=true`); a client without TLS is refused;
  * clients log in as `n8n` with n8n's password by SCRAM, checked against PostgreSQL's own verifier of
    that password (copied from `pg_authid`), so PgBouncer holds no client password;
  * server connections log in to PostgreSQL as the pool's user over TLS, verifying the certificate.
    PgBouncer cannot log in with a SCRAM verifier for a pool user it forces, so the pool's entry holds
    that user's password — as DigitalOcean, which shows every user's password, can.
How DigitalOcean authenticates a pool's clients is not documented; this is our reading of its API.

A read-only stats user (`stats_users`) lets the rehearsal ask PgBouncer's admin console (`SHOW POOLS`,
`SHOW SERVERS`, `SHOW STATS`) what went through it; n8n never sees that user.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from platform_model.topology import DB_NAME, DB_POOL, DB_USER

from .pki import LOOPBACK_HOST, LOOPBACK_IP, Pki
from .scenarios import Check
from .services import (
    Postgres,
    ServiceError,
    as_postgres_user,
    chown_to_postgres,
    postgres_bin,
    stop_process,
    strong_secret,
)

STATS_USER = "rehearsal-observer"
ADMIN_DATABASE = "pgbouncer"  # PgBouncer's admin console


def _pgbouncer_bin() -> str:
    # Debian installs it in /usr/sbin, which is not on every user's PATH.
    found = shutil.which("pgbouncer") or ("/usr/sbin/pgbouncer" if os.path.exists("/usr/sbin/pgbouncer") else None)
    if found is None:
        raise ServiceError("pgbouncer was not found on PATH or in /usr/sbin: install Debian's `pgbouncer` package")
    return found


def _private_file(path: Path, text: str) -> None:
    """A file only PgBouncer's user can read (it holds a key or a password)."""
    path.write_text(text)
    path.chmod(0o600)
    chown_to_postgres(path)


@dataclass
class PgBouncer:
    process: subprocess.Popen
    port: int
    pki: Pki
    stats_password: str
    postgres: Postgres

    def bindings(self) -> dict[str, str]:
        """App Platform's bindable variables of the pool (`${postgres.n8n-pool.*}`): the cluster's names,
        with the pool's port and the pool's name as database."""
        return {**self.postgres.bindings(self.pki), "PORT": str(self.port), "DATABASE": DB_POOL}

    def show(self, what: str) -> list[dict[str, str]]:
        """One `SHOW <what>` of the admin console, as rows; over TLS, certificate verified."""
        conninfo = (f"host={LOOPBACK_HOST} port={self.port} dbname={ADMIN_DATABASE} user={STATS_USER} "
                    f"sslmode=verify-full sslrootcert={self.pki.ca_cert}")
        done = subprocess.run([postgres_bin("psql"), conninfo, "--csv", "-c", f"SHOW {what}"], capture_output=True,
                              text=True, timeout=15, env={"PATH": os.environ.get("PATH", ""),
                                                          "PGPASSWORD": self.stats_password})
        if done.returncode != 0:
            raise ServiceError(f"PgBouncer's SHOW {what} failed: {done.stderr.strip()}")
        return list(csv.DictReader(io.StringIO(done.stdout)))

    def pool_rows(self, what: str) -> list[dict[str, str]]:
        return [row for row in self.show(what) if row.get("database") == DB_POOL]

    def stop(self) -> None:
        stop_process(self.process)


def _config(directory: Path, postgres: Postgres, port: int, mode: str, size: int) -> str:
    return (
        "[databases]\n"
        f"{DB_POOL} = host={LOOPBACK_HOST} port={postgres.port} dbname={DB_NAME} user={DB_USER} "
        f"password={postgres.n8n_password} pool_size={size} pool_mode={mode}\n\n"
        "[pgbouncer]\n"
        f"listen_addr = {LOOPBACK_IP}\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = scram-sha-256\nauth_file = {directory / 'users.txt'}\n"
        f"stats_users = {STATS_USER}\n"
        f"client_tls_sslmode = require\nclient_tls_cert_file = {directory / 'server.pem'}\n"
        f"client_tls_key_file = {directory / 'server.key'}\n"
        f"server_tls_sslmode = verify-full\nserver_tls_ca_file = {directory / 'ca.pem'}\n"
        f"logfile = {directory / 'pgbouncer.log'}\n")


def start_pgbouncer(directory: Path, pki: Pki, postgres: Postgres, port: int, mode: str, size: int) -> PgBouncer:
    directory.mkdir(parents=True)
    chown_to_postgres(directory)
    for src, name in ((pki.server_cert, "server.pem"), (pki.server_key, "server.key"), (pki.ca_cert, "ca.pem")):
        _private_file(directory / name, src.read_text())
    verifier = postgres.superuser_sql(f"SELECT rolpassword FROM pg_authid WHERE rolname = '{DB_USER}'")
    stats_password = strong_secret()
    _private_file(directory / "users.txt", f'"{DB_USER}" "{verifier}"\n"{STATS_USER}" "{stats_password}"\n')
    _private_file(directory / "pgbouncer.ini", _config(directory, postgres, port, mode, size))
    # PgBouncer refuses to run as root, like PostgreSQL: it runs as the same `postgres` user.
    process = subprocess.Popen([*as_postgres_user(), _pgbouncer_bin(), str(directory / "pgbouncer.ini")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    bouncer = PgBouncer(process, port, pki, stats_password, postgres)
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            log = directory / "pgbouncer.log"
            raise ServiceError(f"pgbouncer exited: {log.read_text()[-800:] if log.exists() else 'no log'}")
        try:
            bouncer.show("POOLS")
            return bouncer
        except ServiceError:
            if time.monotonic() > deadline:
                bouncer.stop()
                raise
            time.sleep(0.2)


# --- did n8n's connections go through the pool? ---------------------------------------------------


@dataclass
class PoolUse:
    """What PgBouncer and PostgreSQL saw of n8n's connections."""

    peak_clients: int = 0  # n8n's client connections to the pool (SHOW POOLS cl_*), at most at once
    peak_servers: int = 0  # the pool's server connections to PostgreSQL (SHOW POOLS sv_*), at most at once
    transactions: int = 0  # SHOW STATS total_xact_count of the pool
    n8n_backends: list[int] = field(default_factory=list)  # client ports of PostgreSQL's backends of user n8n
    pool_server_ports: set[int] = field(default_factory=set)  # local ports of the pool's server connections

    @property
    def bypassing(self) -> list[int]:
        """n8n backends whose connection did not come from the pool: someone connected directly."""
        return sorted(p for p in self.n8n_backends if p not in self.pool_server_ports)

    def as_dict(self) -> dict:
        return {"peak_client_connections": self.peak_clients, "peak_server_connections": self.peak_servers,
                "transactions": self.transactions, "n8n_backends": len(self.n8n_backends),
                "bypassing": self.bypassing}


# SHOW POOLS columns (PgBouncer 1.18) that count a pool's client and server connections.
CLIENT_COLUMNS = ("cl_active", "cl_waiting")
SERVER_COLUMNS = ("sv_active", "sv_idle", "sv_used", "sv_tested", "sv_login")


def sample_peaks(bouncer: PgBouncer, use: PoolUse) -> None:
    for row in bouncer.pool_rows("POOLS"):
        use.peak_clients = max(use.peak_clients, sum(int(row[c]) for c in CLIENT_COLUMNS))
        use.peak_servers = max(use.peak_servers, sum(int(row[c]) for c in SERVER_COLUMNS))


class PoolWatch:
    """Samples PgBouncer's SHOW POOLS in the background (during the load run) for the peaks."""

    def __init__(self, bouncer: PgBouncer, use: PoolUse, every: float = 0.5):
        self.bouncer, self.use, self.every = bouncer, use, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            # A missed sample is harmless: the final observation still decides the check.
            with contextlib.suppress(ServiceError, subprocess.TimeoutExpired):
                sample_peaks(self.bouncer, self.use)

    def __enter__(self) -> PoolWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(10)


def observe(bouncer: PgBouncer, use: PoolUse) -> PoolUse:
    """PostgreSQL's backends of user n8n, bracketed by two looks at the pool's server connections (a
    server connection opened in between is still matched)."""
    ports = {int(r["local_port"]) for r in bouncer.pool_rows("SERVERS")}
    backends = bouncer.postgres.superuser_sql(
        f"SELECT client_port FROM pg_stat_activity WHERE usename = '{DB_USER}' AND client_port IS NOT NULL")
    ports |= {int(r["local_port"]) for r in bouncer.pool_rows("SERVERS")}
    sample_peaks(bouncer, use)
    use.n8n_backends = [int(p) for p in backends.split()]
    use.pool_server_ports = ports
    use.transactions = sum(int(r["total_xact_count"]) for r in bouncer.pool_rows("STATS"))
    return use


def pool_check(use: PoolUse, mode: str, size: int) -> Check:
    """Passes only when n8n's traffic went through the pool and PostgreSQL saw no n8n connection that
    did not come from it."""
    problems = []
    if use.transactions == 0:
        problems.append("PgBouncer carried no transaction of n8n's")
    if not use.n8n_backends:
        problems.append("PostgreSQL showed no backend of user n8n to attribute")
    if use.bypassing:
        problems.append(f"{len(use.bypassing)} of PostgreSQL's {len(use.n8n_backends)} n8n backend(s) did not come "
                        f"from the pool (client ports {use.bypassing}): n8n connected directly")
    figures = (f"up to {use.peak_clients} n8n client connection(s) to {DB_POOL} ({mode}, size {size}), up to "
               f"{use.peak_servers} server connection(s) to PostgreSQL; {use.transactions} transactions through "
               f"the pool; all {len(use.n8n_backends)} n8n backend(s) in PostgreSQL are the pool's")
    return Check(f"n8n's PostgreSQL connections go through PgBouncer ({DB_POOL})", not problems,
                 "; ".join(problems) if problems else figures)
