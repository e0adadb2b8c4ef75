"""What a component of an App spec runs — n8n as main, worker or webhook processor, a one-shot n8n
command, n8n's runner launcher, or something else — decided from what it runs and how it is configured,
wherever its image comes from.

The one classifier for the policy pack, the capacity arithmetic and the rehearsal. Stdlib only: the pack
imports it. The evidence, in the order it decides:

1. `run_command`: n8n's CLI (`n8n worker`; `n8n` alone is `start`, n8n 2.41.1 `dist/command-registry.js`
   takes argv[2] ?? 'start'), also behind tini, `exec`, `sh -c`, node (`node
   /usr/local/lib/node_modules/n8n/bin/n8n worker`) or n8n's image entrypoint (`/docker-entrypoint.sh
   worker`: the entrypoint runs `n8n "$@"`, so it takes n8n's arguments, not `n8n` again); or the runner
   launcher (`task-runner-launcher javascript`).
2. Without `run_command` the image's default command runs, which the pack knows for n8n's official
   images only: n8nio/n8n runs `n8n` (= start) and n8nio/runners runs `task-runner-launcher javascript
   python` (n8n-io/n8n docker/images/n8n and docker/images/runners Dockerfiles). Any other image with
   the runner launcher's own settings and none of n8n's runs the launcher: only the launcher and its
   runners read those (n8n-io/task-runner-launcher `internal/config`, `internal/env`). n8n's own settings
   cannot tell main from worker — every n8n command reads them — so n8n from another image must say
   what it runs.
3. Signs that a component is n8n at all: n8n's env vars (@n8n/config 2.41.1: EXECUTIONS_MODE, DB_TYPE,
   DB_POSTGRESDB_*, QUEUE_BULL_*, N8N_ENCRYPTION_KEY, N8N_RUNNERS_MODE…), the runner side's
   (N8N_RUNNERS_TASK_BROKER_URI is read by @n8n/task-runner, N8N_RUNNERS_LAUNCHER_HEALTH_CHECK_PORT by
   the launcher), n8n's ports (5678 HTTP, 5679 task broker, 5680 launcher health), an image of n8n's.

A component with any sign of n8n that the rules above cannot classify is UNRECOGNISED, with the reason
and the fix: the pack reports it rather than skip it. A job runs n8n only when its command does.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from . import catalog
from .images import Image, image_of, is_official_n8n, is_official_runners
from .spec_fields import env_entries, ports, spec_value

MAIN, WORKER, WEBHOOK = "main", "worker", "webhook"
RUNNERS = "runners"
N8N_COMMAND = "n8n command"  # a one-shot n8n CLI command in a job (`n8n import:workflow …`)
NOT_N8N = "not n8n"
UNRECOGNISED = "unrecognised"

# n8n's long-running commands and the role each plays; every other n8n command runs once and exits.
SERVER_COMMANDS = {"start": MAIN, "worker": WORKER, "webhook": WEBHOOK}
N8N_PROCESSES = frozenset(SERVER_COMMANDS.values())
LAUNCHER = "task-runner-launcher"

# Read only by n8n itself (@n8n/config 2.41.1), beyond the prefixes below.
N8N_ONLY_ENV = frozenset({"DB_TYPE", "OFFLOAD_MANUAL_EXECUTIONS_TO_WORKERS", "WEBHOOK_URL", "N8N_RUNNERS_MODE",
                          "N8N_RUNNERS_BROKER_PORT", "N8N_RUNNERS_BROKER_LISTEN_ADDRESS", "N8N_RUNNERS_ENABLED",
                          "N8N_RUNNERS_TASK_REQUEST_TIMEOUT"})
N8N_ONLY_PREFIXES = ("EXECUTIONS_", "DB_POSTGRESDB_", "DB_MYSQLDB_", "DB_SQLITE_", "QUEUE_BULL_", "QUEUE_HEALTH_CHECK_")
# Read only by the runner launcher and the runners it starts (task-runner-launcher 1.4.3, @n8n/task-runner).
LAUNCHER_ONLY_ENV = frozenset({"N8N_RUNNERS_TASK_BROKER_URI", "N8N_RUNNERS_LAUNCHER_HEALTH_CHECK_PORT",
                               "N8N_RUNNERS_LAUNCHER_LOG_LEVEL", "N8N_RUNNERS_AUTO_SHUTDOWN_TIMEOUT",
                               "N8N_RUNNERS_CONFIG_PATH", "N8N_RUNNERS_HEALTH_CHECK_SERVER_ENABLED",
                               "N8N_RUNNERS_HEALTH_CHECK_SERVER_HOST", "N8N_RUNNERS_HEALTH_CHECK_SERVER_PORT"})
# Read by both sides (the token, timeouts, concurrency) or by n8n's software in general.
SHARED_ENV_PREFIXES = ("N8N_RUNNERS_",)
SHARED_ENV = frozenset({"GENERIC_TIMEZONE", "N8N_VERSION"})
N8N_PORTS = (catalog.N8N_HTTP_PORT, catalog.BROKER_PORT, catalog.RUNNER_HEALTH_PORT)

SERVER_FIX = "set run_command to `n8n start` (main), `n8n worker` or `n8n webhook`"


def _never(_value: Any) -> bool:
    return False


@dataclass(frozen=True)
class Recognition:
    role: str
    signals: tuple[str, ...] = ()  # what makes it look like n8n: names, ports, images — never values
    why: str = ""  # UNRECOGNISED: what stops the classification, and the fix
    n8n_args: tuple[str, ...] = ()  # n8n's own arguments (`worker`) when it runs n8n
    holds_n8n_settings: bool = False  # carries env vars only n8n reads (EXECUTIONS_MODE, DB_*, QUEUE_BULL_*…)

    @property
    def is_n8n_process(self) -> bool:
        """main, a worker or a webhook processor: n8n serving until stopped."""
        return self.role in N8N_PROCESSES

    @property
    def runs_n8n(self) -> bool:
        """Any component that runs n8n's code against its database: its processes and one-shot commands."""
        return self.is_n8n_process or self.role == N8N_COMMAND

    def problem(self, name: str) -> str:
        shown = ", ".join(self.signals[:5]) + (", …" if len(self.signals) > 5 else "")
        return f"{name} looks like n8n ({shown}) but {self.why}"


# --- the command line -----------------------------------------------------------------------------

N8N, LAUNCH, OTHER, OPAQUE = "n8n", "launcher", "other", "opaque"
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
_SHELLS = frozenset({"sh", "bash", "ash", "dash"})
_NODE_OPTIONS_WITH_VALUE = frozenset({"-r", "--require", "--import", "--loader", "--experimental-loader"})


@dataclass(frozen=True)
class Command:
    program: str  # N8N, LAUNCH, OTHER or OPAQUE
    args: tuple[str, ...] = ()  # N8N: n8n's arguments; LAUNCH: runner types
    shown: str = ""  # OTHER: the program it runs; OPAQUE: why it cannot be followed


def _words(text: str) -> list[str]:
    lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    return list(lexer)


def _is_operator(word: str) -> bool:
    return bool(word) and all(ch in "();<>|&" for ch in word)


@lru_cache(maxsize=256)
def parse_command(text: str) -> Command:
    """What a run_command starts. Cached: every policy reads every component's command, and shlex is slow;
    the result is immutable."""
    try:
        return _script(_words(text), text)
    except ValueError:
        return Command(OPAQUE, shown="its run_command cannot be read as a command line (unbalanced quotes)")


def _script(words: list[str], text: str) -> Command:
    segments: list[list[str]] = [[]]
    for word in words:
        if _is_operator(word):
            segments.append([])
        else:
            segments[-1].append(word)
    commands = [_simple(s) for s in segments if s]
    if len(commands) == 1:
        return commands[0]
    if any(c.program != OTHER for c in commands):
        return Command(OPAQUE, shown=f"runs n8n inside a shell script (`{text}`), which the pack cannot follow; "
                                     "run the n8n command itself")
    return Command(OTHER, shown=next((c.shown for c in commands if c.shown), text))


def _simple(words: list[str]) -> Command:
    leading = 0
    while leading < len(words) and _ASSIGNMENT.match(words[leading]):
        leading += 1
    assigned = [w.split("=", 1)[0] for w in words[:leading]]
    command = _program(words[leading:])
    if assigned and command.program in (N8N, LAUNCH):
        return Command(OPAQUE, shown=f"sets {', '.join(assigned)} on its command line, out of the pack's sight; "
                                     "set them in the component's envs")
    return command


def _program(words: list[str]) -> Command:
    if not words:
        return Command(OTHER)
    word, rest = words[0], words[1:]
    base = word.rsplit("/", 1)[-1]
    if base in ("exec", "env"):
        return _simple(rest)
    if base == "tini":
        return _program(_after_options(rest))
    if base in _SHELLS and rest[:1] == ["-c"] and len(rest) > 1:
        return _script(_words(rest[1]), rest[1])
    if base == "node":
        return _node(rest)
    if base == "docker-entrypoint.sh":
        return _entrypoint(rest)
    if base == "n8n":
        return Command(N8N, tuple(rest))
    if word in SERVER_COMMANDS:
        # `worker` alone: the run_command form for an App Platform that replaces only the image's CMD, which
        # n8n's entrypoint then runs as `n8n worker` (settings `app.runCommandReplaces: cmd`).
        return Command(N8N, tuple(words))
    if base == LAUNCHER:
        return Command(LAUNCH, tuple(rest))
    return Command(OTHER, shown=word)


def _after_options(words: list[str]) -> list[str]:
    i = 0
    while i < len(words) and words[i].startswith("-"):
        i += 1
    return words[i:]


def _node(words: list[str]) -> Command:
    i = 0
    while i < len(words) and words[i].startswith("-"):
        i += 2 if words[i] in _NODE_OPTIONS_WITH_VALUE else 1
    script = words[i:] if i < len(words) else []
    if script and script[0].rsplit("/", 1)[-1] == "n8n":
        return Command(N8N, tuple(script[1:]))
    return Command(OTHER, shown="node " + (script[0] if script else ""))


def _entrypoint(args: list[str]) -> Command:
    if args and args[0].rsplit("/", 1)[-1] == "n8n":
        return Command(OPAQUE, shown=(f"runs `/docker-entrypoint.sh {' '.join(args)}`: n8n's entrypoint already "
                                      f"runs `n8n` with its arguments, so this runs `n8n {' '.join(args)}`, which "
                                      f"n8n refuses (Command \"{args[0]}\" not found); write "
                                      f"`/docker-entrypoint.sh {' '.join(args[1:]) or 'start'}` or "
                                      f"`{' '.join(args)}`"))
    return Command(N8N, tuple(args))


# --- the signs --------------------------------------------------------------------------------------


def _n8n_only(key: str) -> bool:
    if key in N8N_ONLY_ENV or key.startswith(N8N_ONLY_PREFIXES):
        return True
    return key.startswith("N8N_") and not key.startswith(SHARED_ENV_PREFIXES) and key not in SHARED_ENV


@dataclass(frozen=True)
class Evidence:
    n8n_env: tuple[str, ...]
    launcher_env: tuple[str, ...]
    signals: tuple[str, ...]


def evidence(component: Mapping[str, Any], image: Image | None) -> Evidence:
    keys = list(env_entries(component))
    n8n = tuple(k for k in keys if _n8n_only(k))
    launcher = tuple(k for k in keys if k in LAUNCHER_ONLY_ENV)
    shared = tuple(k for k in keys if k not in n8n and k not in launcher
                   and (k.startswith(SHARED_ENV_PREFIXES) or k in SHARED_ENV))
    known = sorted({int(p) for p in ports(component)
                    if isinstance(p, (int, float)) and not isinstance(p, bool) and int(p) in N8N_PORTS})
    signals = [*n8n, *launcher, *shared, *(f"port {p}" for p in known)]
    if image is not None and "n8n" in image.path.lower():
        signals.append(f"image {image.reference}")
    return Evidence(n8n, launcher, tuple(signals))


# --- the decision -------------------------------------------------------------------------------------


def recognise(kind: str, component: Mapping[str, Any], is_unknown: Callable[[Any], bool] = _never) -> Recognition:
    """What the component of `kind` (services, workers or jobs) runs. `is_unknown` tells the engine's
    unknown values at preview from real ones (the policy pack passes its own)."""
    image, _problem = image_of(component, is_unknown)
    found = evidence(component, image)
    run = spec_value(component, "run_command")
    if is_unknown(run):
        return Recognition(UNRECOGNISED, found.signals + ("run_command",),
                           "its run_command is not known at preview, so what it runs cannot be shown",
                           holds_n8n_settings=bool(found.n8n_env))
    command = parse_command(run) if isinstance(run, str) and run.strip() else _image_default(image, found)
    return replace(_decide(kind == "jobs", command, image, found), holds_n8n_settings=bool(found.n8n_env))


def _image_default(image: Image | None, found: Evidence) -> Command | None:
    """The command the image runs on its own, when the pack can know it."""
    if is_official_n8n(image):
        return Command(N8N)
    if is_official_runners(image) or (found.launcher_env and not found.n8n_env):
        return Command(LAUNCH)
    return None


def _decide(job: bool, command: Command | None, image: Image | None, found: Evidence) -> Recognition:
    signals = found.signals
    if command is None:
        if not signals:
            return Recognition(NOT_N8N)
        source = f"its image {image.reference}" if image else "it is built from source"
        return Recognition(UNRECOGNISED, signals,
                           f"names no run_command, and {source} is not one of n8n's official images, whose "
                           f"default command the pack knows: {SERVER_FIX}, or run `{LAUNCHER} javascript` "
                           "for a runner pool")
    if command.program == OPAQUE:
        return Recognition(UNRECOGNISED, signals + ("run_command",), command.shown)
    if command.program == OTHER:
        if job or not signals:
            return Recognition(NOT_N8N, signals)
        return Recognition(UNRECOGNISED, signals, f"runs `{command.shown}`, neither n8n nor its runner launcher; "
                                                  f"{SERVER_FIX}, or move n8n's settings off this component")
    if command.program == LAUNCH:
        if job:
            return Recognition(UNRECOGNISED, signals + ("run_command",),
                               "is a job that runs the runner launcher, which never exits; run runner pools as "
                               "workers")
        return Recognition(RUNNERS, signals)
    return _n8n(job, command.args, image, signals)


def _n8n(job: bool, args: tuple[str, ...], image: Image | None, signals: tuple[str, ...]) -> Recognition:
    signals = signals + ("run_command",)
    name = args[0] if args else "start"
    if is_official_runners(image):
        return Recognition(UNRECOGNISED, signals, f"runs `n8n {name}` in n8n's runners image ({image.reference}), "
                                                  "which has no n8n in it")
    server = SERVER_COMMANDS.get(name)
    if job:
        if server:
            return Recognition(UNRECOGNISED, signals, f"is a job that runs `n8n {name}`, which serves until stopped; "
                                                      "a job must finish. Run it as a service")
        return Recognition(N8N_COMMAND, signals, n8n_args=args)
    if server is None:
        return Recognition(UNRECOGNISED, signals, f"runs `n8n {' '.join(args)}`, which is not one of n8n's "
                                                  f"long-running commands (start, worker, webhook); {SERVER_FIX}")
    return Recognition(server, signals, n8n_args=args or ("start",))
