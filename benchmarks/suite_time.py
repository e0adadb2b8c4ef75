"""How long the README's test command takes on this machine: runs it N times (3 by default) and prints each
wall time and the median. The target is a median of 30 s or less on a 2-core machine; this only measures,
it never fails for being slow (a run that fails is reported and exits 1).

    venv/bin/python benchmarks/suite_time.py [N]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMAND = [str(ROOT / "venv" / "bin" / "python"), "-m", "pytest", "-n", "auto", "-q"]


def main(argv: list[str]) -> int:
    runs = int(argv[0]) if argv else 3
    times = []
    for i in range(1, runs + 1):
        started = time.monotonic()
        done = subprocess.run(COMMAND, cwd=ROOT, capture_output=True, text=True)
        times.append(time.monotonic() - started)
        summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr.strip()[-200:]
        print(f"run {i}: {times[-1]:.1f} s  ({summary})", flush=True)
        if done.returncode != 0:
            print(done.stdout[-3000:], done.stderr[-2000:], sep="\n")
            return 1
    print(f"median of {runs}: {statistics.median(times):.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
