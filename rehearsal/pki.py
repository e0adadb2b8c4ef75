"""A throwaway certificate authority and one server certificate for the loopback host name, so the
rehearsal's PostgreSQL and Redis speak TLS that n8n verifies exactly as it verifies DigitalOcean's
clusters (`DB_POSTGRESDB_SSL_REJECT_UNAUTHORIZED=true`, `QUEUE_BULL_REDIS_TLS_VALIDATE_CERTIFICATE=true`).

Made with the `openssl` command line (Debian's `openssl` package); the keys live only in the run
directory and die with it.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

# The host name the rehearsal substitutes for `${postgres.HOSTNAME}` and `${valkey.HOSTNAME}`: a name,
# like DigitalOcean's, so certificate verification checks a DNS subject alternative name. /etc/hosts
# maps it to 127.0.0.1 (and the servers listen there only).
LOOPBACK_HOST = "localhost"
LOOPBACK_IP = "127.0.0.1"


@dataclass(frozen=True)
class Pki:
    ca_cert: Path
    server_cert: Path
    server_key: Path

    @property
    def ca_pem(self) -> str:
        return self.ca_cert.read_text()


def _openssl(*args: str, cwd: Path) -> None:
    done = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {done.stderr.strip()}")


def make_pki(directory: Path) -> Pki:
    directory.mkdir(parents=True, exist_ok=True)
    curve = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl("req", "-x509", *curve, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
             "-subj", "/CN=n8n-platform rehearsal throwaway CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=directory)
    _openssl("req", *curve, "-keyout", "server.key", "-out", "server.csr", "-subj", f"/CN={LOOPBACK_HOST}",
             cwd=directory)
    (directory / "server.ext").write_text(
        f"subjectAltName=DNS:{LOOPBACK_HOST},IP:{LOOPBACK_IP}\n"
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "server.pem", "-days", "2", "-extfile", "server.ext", cwd=directory)
    (directory / "server.key").chmod(0o600)
    return Pki(directory / "ca.pem", directory / "server.pem", directory / "server.key")
