"""The faults the drills inject, as close as this machine gets to what happens on DigitalOcean.

  * a process killed (SIGKILL to its process group): a container that dies — out of memory, a crash;
  * PostgreSQL stopped with `-m immediate` and started again: every connection is cut at once and
    nothing answers until the server is back, as during a managed cluster's standby failover;
  * Redis told `SHUTDOWN SAVE` and started again from its snapshot: connections are cut and the queue's
    data survives, as a Valkey standby failover keeps the replicated data.
"""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
from pathlib import Path

from .deployment import Process
from .pki import LOOPBACK_HOST, LOOPBACK_IP
from .services import Postgres, Redis, ServiceError, as_postgres_user, postgres_bin, redis_answers


def kill(proc: Process) -> None:
    proc.kill()
    proc.popen.wait(10)


def children(pid: int) -> list[int]:
    """Direct child processes of `pid`, read from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def kill_children(proc: Process) -> int:
    """SIGKILL the process's children only (a launcher's runner); how many there were."""
    pids = children(proc.popen.pid)
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    return len(pids)


def postgres_down(pg: Postgres) -> None:
    subprocess.run([*as_postgres_user(), postgres_bin("pg_ctl"), "-D", str(pg.directory / "data"), "-m", "immediate",
                    "-w", "stop"], capture_output=True, check=True)


def postgres_up(pg: Postgres) -> None:
    done = subprocess.run([*as_postgres_user(), postgres_bin("pg_ctl"), "-D", str(pg.directory / "data"),
                           "-l", str(pg.directory / "postgres.log"), "-w", "-t", "60", "start"],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise ServiceError(f"PostgreSQL did not start again: {done.stderr.strip()}")


def redis_down(redis: Redis, ca: Path) -> None:
    context = ssl.create_default_context(cafile=str(ca))
    with (socket.create_connection((LOOPBACK_IP, redis.port), timeout=5) as raw,
          context.wrap_socket(raw, server_hostname=LOOPBACK_HOST) as tls):
        tls.sendall(f"AUTH {redis.bindings()['USERNAME']} {redis.password}\r\nSHUTDOWN SAVE\r\n".encode())
        try:
            while tls.recv(256):  # the server closes the connection when it has saved and stops
                pass
        except OSError:
            pass
    redis.process.wait(30)


def redis_up(redis: Redis, ca: Path) -> None:
    args = list(redis.process.args)  # type: ignore[arg-type]  # typeshed: args may be a str; ours is a list
    with open(Path(str(args[1])).parent / "redis.log", "a") as log:  # the child keeps its own copy
        redis.process = subprocess.Popen(redis.process.args, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
    if not redis_answers(redis, ca, 30):
        raise ServiceError("redis-server did not answer again within 30 s")
