"""The backup bucket, read with the backup worker's own tool (rclone), and a local S3-compatible server
for the restore drill.

Reading: `rclone lsjson` on the same on-the-fly `:s3:` remote the worker writes through, configured by the
same RCLONE_S3_* variables, so no second S3 client is involved. The local server is moto's server mode
(PyPI `moto[server]`, pinned in requirements-dev.txt): no MinIO, Garage or SeaweedFS package exists in
Debian bookworm, PyPI or npm for this machine, and moto speaks the S3 API rclone uses (PUT, multipart,
LIST, GET).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from builders.backup_spec import BACKUP_PREFIX

from .scenarios import Check
from .services import ServiceError, free_ports

LOCAL_REGION = "us-east-1"  # moto's default; the Spaces region plays no part locally


@dataclass(frozen=True)
class Dump:
    name: str  # the object's key below the bucket
    size: int  # bytes, encrypted
    modified: datetime


def rclone_env(endpoint: str, access_key: str, secret_key: str, provider: str = "DigitalOcean") -> dict[str, str]:
    """What the backup worker's env says about the bucket's server (builders/backup_spec.py)."""
    return {"RCLONE_S3_PROVIDER": provider, "RCLONE_S3_ENDPOINT": endpoint, "RCLONE_S3_NO_CHECK_BUCKET": "true",
            "RCLONE_S3_ACCESS_KEY_ID": access_key, "RCLONE_S3_SECRET_ACCESS_KEY": secret_key,
            "RCLONE_CONFIG": "/dev/null"}


def _rclone(args: list[str], env: dict[str, str], timeout: float = 60) -> str:
    done = subprocess.run(["rclone", *args], env={"PATH": "/usr/bin:/bin", **env}, capture_output=True,
                          text=True, timeout=timeout)
    if done.returncode != 0:
        raise ServiceError(f"rclone {args[0]} failed: {done.stderr.strip()[-400:]}")
    return done.stdout


def dumps(env: dict[str, str], bucket: str) -> list[Dump]:
    """Every dump in the bucket, oldest first."""
    listing = ["lsjson", "--retries", "1", "--low-level-retries", "2", "--recursive", "--files-only"]
    listed = json.loads(_rclone([*listing, f":s3:{bucket}/{BACKUP_PREFIX}"], env) or "[]")
    found = [Dump(f"{BACKUP_PREFIX}/{o['Path']}", int(o["Size"]),
                  datetime.fromisoformat(o["ModTime"].replace("Z", "+00:00"))) for o in listed]
    return sorted(found, key=lambda d: d.modified)


def newest_backup_check(env: dict[str, str], bucket: str, max_age_hours: float,
                        now: datetime | None = None) -> Check:
    """The age of the newest dump, failed when there is none or it is older than `max_age_hours`."""
    name = "newest backup in the bucket"
    try:
        found = dumps(env, bucket)
    except (ServiceError, subprocess.TimeoutExpired, OSError) as err:
        return Check(name, False, f"cannot list bucket {bucket}: {err}")
    if not found:
        return Check(name, False, f"bucket {bucket} holds no dump under {BACKUP_PREFIX}/: is the backup worker "
                                  "running? (its log says `backup written: ...` after each dump)")
    newest = found[-1]
    age_h = ((now or datetime.now(UTC)) - newest.modified).total_seconds() / 3600
    detail = (f"{newest.name}, {newest.size:,} bytes, {age_h:.1f} h old ({len(found)} dump(s) kept); "
              f"limit {max_age_hours:g} h")
    return Check(name, age_h <= max_age_hours, detail)


class LocalS3:
    """moto's S3 server on a loopback port, started and stopped by the drill."""

    def __init__(self, directory: Path):
        self.port = free_ports(1)[0]
        self.log = directory / "s3-server.log"
        directory.mkdir(parents=True, exist_ok=True)
        moto = Path(sys.executable).with_name("moto_server")
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen([str(moto), "-H", "127.0.0.1", "-p", str(self.port)], stdout=out,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        self.env = rclone_env(f"http://127.0.0.1:{self.port}", "drill-access-key", "drill-secret-key", "Other")
        deadline = time.monotonic() + 30
        while True:
            try:
                _rclone(["lsjson", ":s3:"], self.env, timeout=5)
                return
            except (ServiceError, subprocess.TimeoutExpired):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise ServiceError(f"the local S3 server did not start: {self.log.read_text()[-400:]}") from None
                time.sleep(0.3)

    def create_bucket(self, bucket: str) -> None:
        """A versioned bucket, as the stack's. (Unversioned, moto answers rclone's check of a finished
        multipart upload, a HEAD with versionId=null, with 400.)"""
        _rclone(["mkdir", f":s3:{bucket}"], {**self.env, "RCLONE_S3_NO_CHECK_BUCKET": "false"})
        _rclone(["backend", "versioning", f":s3:{bucket}", "Enabled"], self.env)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
