"""The one harness every benchmark uses: options, timing, ratios, fake servers, reporting.

- `parser`: the common options (`--quick`, and `--in-process` for the scripts
  that start fake servers).
- Timing: `Stages` (CPU and wall per named stage), `repeat` (warm-up runs, then
  N timed runs), `median`, `percentile`, `spread`; `ratio` against a baseline
  measured in the same run.
- Memory: `rss_mb` (current and peak resident set of this process).
- `Served`: a fake server (any object built by a picklable factory) in a spawned
  child process, like a remote server, or in this process; its methods are
  called by name.
- Reporting: `print_context` (commit, code hash, load average), `print_table`,
  and `finish`, which writes `bench/results/<name>.json` and prints the
  headline figures as one JSON line, the last line of every run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import multiprocessing
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
T = TypeVar("T")

# ---------------------------------------------------------------- options


def parser(doc: str | None, *, servers: bool = False) -> argparse.ArgumentParser:
    """An argument parser with the common options; the script adds its own."""
    first = (doc or "").strip().split("\n\n")[0]
    out = argparse.ArgumentParser(prog=f"python -m bench.{Path(sys.argv[0]).stem}",
                                  description=first)
    out.add_argument("--quick", action="store_true",
                     help="smallest sizes and fewest runs: checks that the script works, "
                          "its figures are not for the record")
    if servers:
        out.add_argument("--in-process", action="store_true",
                         help="run the fake servers in this process (as the tests do) instead "
                              "of a child process (their CPU and memory then count)")
    return out


def pick(value: T | None, full: T, quick: T, is_quick: bool) -> T:
    """An option's value: what was given, else the quick or the full default."""
    if value is not None:
        return value
    return quick if is_quick else full


# ---------------------------------------------------------------- statistics and ratios


def median(values: Sequence[float]) -> float:
    """The median of a non-empty sequence."""
    return float(statistics.median(values))


def percentile(values: Sequence[float], q: float) -> float:
    """The `q`-th percentile (0-100), linear interpolation between closest ranks."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return float(ordered[0])
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (pos - low))


def spread(values: Sequence[float]) -> dict[str, float]:
    """Median, p95, max and mean of a non-empty sequence."""
    return {"median": median(values), "p95": percentile(values, 95), "max": max(values),
            "mean": sum(values) / len(values)}


def ratio(value: float, baseline: float) -> float:
    """`value` / `baseline` (NaN when the baseline is zero)."""
    return value / baseline if baseline else math.nan


def times(value: float) -> str:
    """A ratio as printed in the tables: 0.507x."""
    return "-" if math.isnan(value) else f"{value:.3f}x"


def yes_no(flag: bool) -> str:
    """'yes' or 'no', for tables and summaries."""
    return "yes" if flag else "no"


# ---------------------------------------------------------------- timing


@dataclass
class Stages:
    """CPU (`process_time`) and wall (`perf_counter`) seconds spent in each named stage."""

    cpu: dict[str, float] = field(default_factory=dict)
    wall: dict[str, float] = field(default_factory=dict)

    def time(self, stage: str, fn: Callable[[], T]) -> T:
        """Run `fn`, adding its CPU and wall time to `stage`; returns what `fn` returned."""
        cpu, wall = time.process_time(), time.perf_counter()
        value = fn()
        self.cpu[stage] = self.cpu.get(stage, 0.0) + time.process_time() - cpu
        self.wall[stage] = self.wall.get(stage, 0.0) + time.perf_counter() - wall
        return value

    @property
    def cpu_s(self) -> float:
        """CPU seconds of every stage."""
        return sum(self.cpu.values())

    @property
    def wall_s(self) -> float:
        """Wall seconds of every stage."""
        return sum(self.wall.values())


def repeat(fn: Callable[[], T], runs: int, warmup: int = 1,
           before: Callable[[], None] | None = None) -> list[T]:
    """`warmup` untimed calls, then `runs` calls whose results are returned.

    `before` runs ahead of every call (warm-up included), outside what `fn` measures.
    """
    results = []
    for number in range(warmup + runs):
        if before is not None:
            before()
        value = fn()
        if number >= warmup:
            results.append(value)
    return results


def timed(fn: Callable[[], T]) -> tuple[T, float, float]:
    """(what `fn` returned, CPU seconds, wall seconds) of one call."""
    cpu, wall = time.process_time(), time.perf_counter()
    value = fn()
    return value, time.process_time() - cpu, time.perf_counter() - wall


# ---------------------------------------------------------------- memory


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident set of this process in MB (`VmRSS`, `ru_maxrss`; Linux)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux
    current = peak
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmRSS:"):
                current = int(line.split()[1]) / 1024
    return current, peak


# ---------------------------------------------------------------- fake servers


class ServerError(RuntimeError):
    """The fake server failed (its traceback is the message) or its process died."""


def _serve(conn: Connection, factory: Callable[..., Any], args: tuple[Any, ...]) -> None:
    """Child process: build the server, answer method calls until told to stop."""
    try:
        server = factory(*args)
    except BaseException:
        conn.send(("error", traceback.format_exc()))
        return
    conn.send(("ok", None))
    while (message := conn.recv()) is not None:
        method, call_args = message
        try:
            conn.send(("ok", getattr(server, method)(*call_args)))
        except Exception:
            conn.send(("error", traceback.format_exc()))
    server.close()
    conn.send(("ok", None))


class Served:
    """A fake server built by `factory(*args)`, in a spawned child process or in this one.

    In a child process (the default) the server is apart like a remote one: its
    CPU and memory are not this process's, and it does not compete for the GIL.
    The factory and its arguments must be picklable (a module-level class or
    function); the object it builds must have `close()`. `call` runs one of its
    methods and returns the (picklable) result.
    """

    def __init__(self, factory: Callable[..., Any], *args: Any, in_process: bool = False) -> None:
        self.in_process = in_process
        self.local: Any = None
        self.conn: Connection | None = None
        self.process: Any = None
        if in_process:
            self.local = factory(*args)
            return
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child, factory, args), daemon=True)
        self.process.start()
        self._receive()

    def _receive(self) -> Any:
        assert self.conn is not None
        while not self.conn.poll(0.5):
            if not self.process.is_alive():
                raise ServerError(f"the fake server's process died "
                                  f"(exit code {self.process.exitcode})")
        status, value = self.conn.recv()
        if status == "error":
            raise ServerError(f"in the fake server's process:\n{value}")
        return value

    def call(self, method: str, *args: Any) -> Any:
        """The server's `method(*args)`, wherever the server runs."""
        if self.in_process:
            return getattr(self.local, method)(*args)
        assert self.conn is not None
        self.conn.send((method, args))
        return self._receive()

    def close(self) -> None:
        """Stop the server (and its process); idempotent."""
        if self.in_process:
            if self.local is not None:
                self.local.close()
                self.local = None
            return
        if self.conn is None:
            return
        try:
            if self.process.is_alive():
                self.conn.send(None)
                self._receive()
        finally:
            self.process.join(timeout=10)
            if self.process.is_alive():
                self.process.kill()
            self.conn = None

    @property
    def where(self) -> str:
        """Where the server runs, for the reports."""
        return "in this process" if self.in_process else "in a child process"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


# ---------------------------------------------------------------- reporting


def code_fingerprint() -> str:
    """A short hash of `briefing/**/*.py`: which code the figures are for."""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "briefing").rglob("*.py")):
        digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def commit() -> str:
    """The checked-out commit, short (read only: no lock taken), or 'unknown'."""
    try:
        done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                              capture_output=True, text=True, check=False, timeout=10,
                              env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"})
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return done.stdout.strip() or "unknown"


def command(name: str) -> str:
    """The command line of this run, as `python -m bench.<name> ...`."""
    return " ".join([".venv/bin/python", "-m", f"bench.{name}", *sys.argv[1:]])


def context(name: str, quick: bool) -> dict[str, Any]:
    """What the figures depend on besides the code under test: machine, load, code."""
    return {"bench": name, "command": command(name), "quick": quick,
            "commit": commit(), "code": code_fingerprint(),
            "python": platform.python_version(), "cpus": os.cpu_count(),
            "load_average_before": round(os.getloadavg()[0], 2)}


def print_context(info: dict[str, Any]) -> None:
    """One header line: command, code, load; a warning for quick runs."""
    print(f"{info['command']}: commit {info['commit']}, code {info['code']}, Python "
          f"{info['python']}, {info['cpus']} CPUs, load average {info['load_average_before']}")
    if info["quick"]:
        print("QUICK RUN: smallest sizes, fewest runs; the figures are not for the record")
    print()


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print a plain-text table: first column left-aligned, the others right-aligned."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        parts = [c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in
                 enumerate(zip(row, widths, strict=True))]
        return "  ".join(parts)

    print(line(cells[0]))
    print("  ".join("-" * w for w in widths))
    for row in cells[1:]:
        print(line(row))


def result_name(name: str, quick: bool) -> str:
    """The results file's name: a quick run never overwrites a full run's figures."""
    return f"{name}-quick" if quick else name


def write_results(name: str, data: dict[str, Any]) -> Path:
    """Write `data` as JSON to bench/results/<name>.json and return the path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n",
                    encoding="utf-8")
    return path


def finish(info: dict[str, Any], name: str, data: dict[str, Any],
           headline: dict[str, Any]) -> Path:
    """Write the results file, then print the headline figures as one JSON line."""
    info = {**info, "load_average_after": round(os.getloadavg()[0], 2)}
    path = write_results(name, {"context": info, **data})
    print(f"\nwritten: {path.relative_to(ROOT)}")
    line = {"bench": info["bench"], "quick": info["quick"], "commit": info["commit"],
            "code": info["code"], **headline}
    print(json.dumps(line, ensure_ascii=False, default=str))
    return path
