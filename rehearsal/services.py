"""The two managed clusters, played locally: PostgreSQL laid out like DigitalOcean's, and a Redis server
(Valkey speaks the same protocol) — both on loopback, TLS only, on ports chosen at run time.

PostgreSQL as DigitalOcean hands it over: the only role we may use is `doadmin` (not a superuser:
CREATEDB, CREATEROLE), which owns the database `n8n`; the user `n8n` is a plain login role with no
privileges. Since PostgreSQL 15 that leaves `n8n` unable to create tables in `public` — which is what
the pre-deploy job `n8n-db-grants` fixes, and what the rehearsal proves. The local superuser exists only
to build that layout over the Unix socket, as DigitalOcean's control plane does.
"""

from __future__ import annotations

import atexit
import functools
import glob
import os
import pwd
import secrets
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from platform_model import catalog
from platform_model.topology import DB_NAME, DB_USER

from .pki import LOOPBACK_HOST, LOOPBACK_IP, Pki

DB_ADMIN = "doadmin"  # DigitalOcean's admin role of every managed PostgreSQL cluster
VALKEY_USER = "default"  # the user name DigitalOcean's Valkey clusters bind as ${valkey.USERNAME}


class ServiceError(RuntimeError):
    pass


def free_ports(count: int) -> list[int]:
    """Ports the kernel has just handed out on loopback (all held until every one is chosen)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind((LOOPBACK_IP, 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def strong_secret() -> str:
    return secrets.token_urlsafe(36)  # 48 characters, URL- and shell-safe


def postgres_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                        key=lambda p: int(p.split("/")[4]))
    if not candidates:
        raise ServiceError(f"PostgreSQL's `{name}` was not found on PATH or in /usr/lib/postgresql/*/bin: "
                           "install Debian's `postgresql` package")
    return candidates[-1]


def as_postgres_user() -> list[str]:
    # PostgreSQL refuses to run as root (CI and this machine run as root): drop to the `postgres` user
    # that Debian's package creates.
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise ServiceError(
            "running as root needs the `postgres` system user (Debian's `postgresql` package)") from None
    return ["runuser", "-u", "postgres", "--"]


def chown_to_postgres(path: Path) -> None:
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres")
        os.chown(path, entry.pw_uid, entry.pw_gid)


@dataclass
class Postgres:
    directory: Path
    port: int
    admin_password: str  # doadmin's: only the pre-deploy job uses it
    n8n_password: str  # ${postgres.PASSWORD}
    superuser_socket: Path

    def bindings(self, pki: Pki) -> dict[str, str]:
        """App Platform's bindable variables of the `postgres` database entry, for this cluster."""
        return {"HOSTNAME": LOOPBACK_HOST, "PORT": str(self.port), "USERNAME": DB_USER,
                "PASSWORD": self.n8n_password, "DATABASE": DB_NAME, "CA_CERT": pki.ca_pem}

    def superuser_sql(self, sql: str, database: str = "postgres") -> str:
        done = subprocess.run(
            [*as_postgres_user(), postgres_bin("psql"), "-h", str(self.superuser_socket), "-p", str(self.port),
             "-U", "postgres", "-d", database, "-v", "ON_ERROR_STOP=1", "-At", "-c", sql],
            capture_output=True, text=True)
        if done.returncode != 0:
            raise ServiceError(f"psql (local superuser) failed: {done.stderr.strip()}")
        return done.stdout.strip()

    def start(self) -> None:
        done = subprocess.run([*as_postgres_user(), postgres_bin("pg_ctl"), "-D", str(self.directory / "data"),
                               "-l", str(self.directory / "postgres.log"), "-w", "-t", "60", "start"],
                              capture_output=True, text=True)
        if done.returncode != 0:
            log = self.directory / "postgres.log"
            raise ServiceError(f"PostgreSQL did not start: {done.stderr.strip()} "
                               f"{log.read_text()[-800:] if log.exists() else ''}")

    def stop(self) -> None:
        subprocess.run([*as_postgres_user(), postgres_bin("pg_ctl"), "-D", str(self.directory / "data"),
                        "-m", "fast", "-w", "stop"], capture_output=True)


@functools.cache
def _initdb_output() -> Path:
    """initdb's output, made once per process: it is the same every time and running it is most of a
    cluster's start."""
    template = Path(tempfile.mkdtemp(prefix="n8n-initdb-"))
    atexit.register(shutil.rmtree, template, True)
    template.chmod(0o711)
    chown_to_postgres(template)
    done = subprocess.run([*as_postgres_user(), postgres_bin("initdb"), "-D", str(template / "data"), "-U",
                           "postgres", "--auth-local=trust", "--auth-host=reject", "-E", "UTF8", "--locale=C"],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise ServiceError(f"initdb failed: {done.stderr.strip()}")
    return template / "data"


def _initdb(data: Path) -> None:
    """A new cluster's files in `data`: a copy of initdb's output, owner and modes kept."""
    done = subprocess.run(["cp", "-a", str(_initdb_output()), str(data)], capture_output=True, text=True)
    if done.returncode != 0:
        raise ServiceError(f"copying initdb's output failed: {done.stderr.strip()}")


def start_postgres(directory: Path, pki: Pki, port: int) -> Postgres:
    directory.mkdir(parents=True)
    chown_to_postgres(directory)
    data = directory / "data"
    # The server's own copies of its certificate and key, owned by the server's user (it refuses a
    # key others can read).
    for src, name in ((pki.server_cert, "server.pem"), (pki.server_key, "server.key")):
        shutil.copy(src, directory / name)
        (directory / name).chmod(0o600)
        chown_to_postgres(directory / name)
    _initdb(data)
    # TLS only, password (SCRAM) only, loopback only: what a managed cluster's clients get.
    (data / "pg_hba.conf").write_text(
        "local all postgres trust\n"
        f"hostssl all all {LOOPBACK_IP}/32 scram-sha-256\n")
    with open(data / "postgresql.conf", "a") as conf:
        conf.write(
            f"\nlisten_addresses = '{LOOPBACK_IP}'\nport = {port}\n"
            f"unix_socket_directories = '{directory}'\n"
            f"ssl = on\nssl_cert_file = '{directory / 'server.pem'}'\nssl_key_file = '{directory / 'server.key'}'\n"
            "password_encryption = 'scram-sha-256'\nmax_connections = 50\nfsync = off\n")
    pg = Postgres(directory, port, strong_secret(), strong_secret(), directory)
    pg.start()
    # DigitalOcean's layout: doadmin (no superuser) owns the database; n8n is a bare login role.
    pg.superuser_sql(
        f"CREATE ROLE {DB_ADMIN} LOGIN CREATEDB CREATEROLE PASSWORD '{pg.admin_password}';"
        f"CREATE ROLE {DB_USER} LOGIN PASSWORD '{pg.n8n_password}';")
    pg.superuser_sql(f"CREATE DATABASE {DB_NAME} OWNER {DB_ADMIN};")
    return pg


@dataclass
class Redis:
    process: subprocess.Popen
    port: int
    password: str

    def bindings(self) -> dict[str, str]:
        """App Platform's bindable variables of the `valkey` database entry, for this server."""
        return {"HOSTNAME": LOOPBACK_HOST, "PORT": str(self.port), "USERNAME": VALKEY_USER,
                "PASSWORD": self.password}

    def stop(self) -> None:
        stop_process(self.process)


def _redis_ping(port: int, password: str, ca: Path) -> bool:
    context = ssl.create_default_context(cafile=str(ca))
    try:
        with (socket.create_connection((LOOPBACK_IP, port), timeout=2) as raw,
              context.wrap_socket(raw, server_hostname=LOOPBACK_HOST) as tls):
            tls.sendall(f"AUTH {VALKEY_USER} {password}\r\nPING\r\n".encode())
            reply = b""
            while b"PONG" not in reply:
                chunk = tls.recv(256)
                if not chunk:
                    return False
                reply += chunk
            return True
    except OSError:
        return False


def start_redis(directory: Path, pki: Pki, port: int) -> Redis:
    server = shutil.which("redis-server")
    if server is None:
        raise ServiceError("redis-server is not on PATH: install Debian's `redis-server` package")
    directory.mkdir(parents=True)
    password = strong_secret()
    config = directory / "redis.conf"
    # TLS only (port 0 closes the plain port); no client certificates, like DigitalOcean's clusters;
    # `noeviction` as the managed cluster is configured for Bull; no persistence for a throwaway run.
    config.write_text(
        f"bind {LOOPBACK_IP}\nport 0\ntls-port {port}\n"
        f"tls-cert-file {pki.server_cert}\ntls-key-file {pki.server_key}\ntls-ca-cert-file {pki.ca_cert}\n"
        "tls-auth-clients no\n"
        f"requirepass {password}\nmaxmemory-policy {catalog.VALKEY_EVICTION_POLICY}\n"
        f"dir {directory}\nsave \"\"\nappendonly no\ndaemonize no\n")
    with open(directory / "redis.log", "w") as log:
        process = subprocess.Popen([server, str(config)], stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    redis = Redis(process, port, password)
    if redis_answers(redis, pki.ca_cert, 30):
        return redis
    if process.poll() is not None:
        raise ServiceError(f"redis-server exited: {(directory / 'redis.log').read_text()[-800:]}")
    redis.stop()
    raise ServiceError("redis-server did not answer PING over TLS within 30 s")


def redis_answers(redis: Redis, ca: Path, timeout: float) -> bool:
    """Until the server answers PING over TLS (True), it exits or `timeout` passes (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and redis.process.poll() is None:
        if _redis_ping(redis.port, redis.password, ca):
            return True
        time.sleep(0.2)
    return False


def stop_process(process: subprocess.Popen, grace_seconds: float = 10) -> None:
    """SIGTERM a local server, SIGKILL it if it has not exited within `grace_seconds`."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace_seconds)
        except subprocess.TimeoutExpired:
            process.kill()
