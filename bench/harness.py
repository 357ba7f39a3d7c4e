"""Timing and reporting shared by the benchmarks: medians of repeated runs, the machine, tables."""

from __future__ import annotations

import gc
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path


@dataclass(frozen=True)
class Timing:
    """The median of `repeats` runs of one measurement, and the spread."""

    label: str
    median: float  # seconds for one run
    fastest: float
    slowest: float
    units: int  # events (or rules) handled per run, for a per-unit cost
    cpu: float = 0.0  # median CPU seconds of this process for one run: less moved by other jobs than `median`

    @property
    def per_unit(self) -> float:
        return self.median / self.units


def measure_all(runs: dict[str, Callable[[], object]], *, units: int, repeats: int) -> list[Timing]:
    """Time each of `runs` `repeats` times with `time.perf_counter`, after one warm-up run each.

    The runs take turns, round by round, so that a busy spell of the machine slows them all
    rather than one of them, and their ratios stay meaningful. The CPU time of this process is
    recorded too: on a shared machine it moves less than the wall-clock time. The garbage collector is paused
    while a run is timed, as `timeit` does, so that one run's garbage is not charged to another.
    """
    for run in runs.values():
        run()
    times: dict[str, list[float]] = {label: [] for label in runs}
    cpu: dict[str, list[float]] = {label: [] for label in runs}
    for _ in range(repeats):
        for label, run in runs.items():
            gc.collect()
            gc.disable()
            try:
                start, start_cpu = time.perf_counter(), time.process_time()
                run()
                times[label].append(time.perf_counter() - start)
                cpu[label].append(time.process_time() - start_cpu)
            finally:
                gc.enable()
    return [
        Timing(label, statistics.median(t), min(t), max(t), units, statistics.median(cpu[label]))
        for label, t in times.items()
    ]


def machine() -> str:
    """One line naming the machine, so figures are never quoted without it."""
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if "model name" in line]
        model = names[0] if names else model
    return (
        f"{datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} CPUs ({model}), "
        f"Python {platform.python_version()} ({sys.implementation.name}), {platform.system()} {platform.release()}"
    )


def load() -> str:
    """The machine's load average over the last minute, to read wall-clock times against."""
    try:
        return f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    except OSError:
        return "load average unknown"


def version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def microseconds(seconds: float) -> str:
    return f"{seconds * 1e6:,.2f} µs"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table with the first column left-aligned and the others right-aligned."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        first, *rest = (str(c) for c in cells)
        return "  ".join([first.ljust(widths[0]), *(c.rjust(w) for c, w in zip(rest, widths[1:], strict=True))])

    return "\n".join([line(headers), "  ".join("-" * w for w in widths), *(line(row) for row in rows)])
