"""The runtime's three steps measured apart, in one process: what each costs an event.

The emulators of 3dcart and Sezzle run in a child process, as in `runtime.py`; this process builds
the runtime `cartwire run` builds (same configuration, SQLite with synchronous=FULL, 8 calls side
by side) and runs, one after the other, over EVENTS shipped 3dcart orders:

- intake: `Runtime.accept_all`, 16 deliveries at a time (read, store, one commit each 16);
- evaluate: `Runtime.evaluate_pending` until nothing is left (rules, plans written);
- execute: `Runtime.execute_due` until nothing is left (in-flight marks, the Sezzle captures, outcomes).

Without the HTTP server and with every step carrying thousands of events, the sum is less than
`runtime.py` measures end to end; it says where an event's CPU goes, and what a change saves.

    ../.venv/bin/python steps.py 3000                 # CPU time of this process per event, per step
    ../.venv/bin/python steps.py 400 --instructions   # instructions per event, per step (valgrind)

On a shared machine CPU time moves by 15 % from run to run; instructions, counted by valgrind's
callgrind (every thread of this process, user space only: not the kernel's work, nor waits),
repeat within 1 %, so that a change of a few per cent can be seen. Callgrind runs Python about
fifty times slower: a few hundred events are enough.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from runtime import SECRET, bodies, serve_emulators, write_config

from cartwire.cli import configured_catalog
from cartwire.core.config import build_connectors, load_config
from cartwire.core.configured_store import open_store
from cartwire.core.runtime import LogObserver, Runtime
from cartwire.plugins.connector import WebhookRequest
from cartwire.plugins.manager import connector_registry
from cartwire.rules.loader import load_rules, rule_library

STEPS = ("intake", "evaluate", "execute")
BATCH = 16  # deliveries stored together, as the intake's storing thread takes them under load
# Events run through every step before the measured ones: what happens once per process (a TLS context
# read from the system's certificates, caches filled) is not an event's cost.
WARM_UP = BATCH
# Set in the child that runs under callgrind: it toggles counting around each step and dumps it.
UNDER_CALLGRIND = "CARTWIRE_STEPS_CALLGRIND"


def build_runtime(config_path: Path) -> Runtime:
    """The runtime `cartwire run` builds from `config_path` (without its server, pollers and schedules)."""
    config = load_config(config_path)
    connectors = build_connectors(connector_registry(), config.connectors, config_file=config.path)
    catalog = configured_catalog(connectors)
    engine = load_rules(config.rules, catalog, rule_library(config))
    return Runtime(open_store(config), catalog, engine, observer=LogObserver(), concurrency=config.concurrency)


def measure(events: int) -> dict[str, float]:
    """CPU seconds of this process per event, for each step."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    emulators = context.Process(target=serve_emulators, args=(WARM_UP + events, child), daemon=True)
    emulators.start()
    sezzle_url, shop_url = parent.recv()
    try:
        with tempfile.TemporaryDirectory(prefix="cartwire-steps-") as folder:
            config = write_config(Path(folder), 1, sezzle_url, shop_url, port=8080)  # no server: never bound
            runtime = build_runtime(config)
            requests = [
                WebhookRequest(body, {"content-type": "application/json"}, SECRET, {"event": "status_changed"})
                for body in bodies(WARM_UP + events, 1)
            ]
            try:
                _run_steps(runtime, requests[:WARM_UP], measured=False)
                return _run_steps(runtime, requests[WARM_UP:])
            finally:
                runtime.stop()
                runtime.store.close()
    finally:
        parent.send("done")
        emulators.join(30)


def _run_steps(runtime: Runtime, requests: list[WebhookRequest], *, measured: bool = True) -> dict[str, float]:
    def intake() -> None:
        for start in range(0, len(requests), BATCH):
            answers = runtime.accept_all([("3dcart", request) for request in requests[start : start + BATCH]])
            failed = [answer for answer in answers if isinstance(answer, Exception)]
            if failed:
                raise RuntimeError(f"a delivery was refused: {failed[0]}")

    def evaluate() -> None:
        while runtime.evaluate_pending(limit=len(requests)):
            pass

    def execute() -> None:
        while runtime.execute_due():
            pass
        if runtime.store.actions("failed"):
            raise RuntimeError("a capture failed; see the log")

    steps: dict[str, Callable[[], None]] = {"intake": intake, "evaluate": evaluate, "execute": execute}
    costs = {}
    for name in STEPS:
        if measured:
            _callgrind("-z", "-i on")
        started = time.process_time()
        steps[name]()
        costs[name] = (time.process_time() - started) / len(requests)
        if measured:
            _callgrind(f"-d {name}", "-i off")
    return costs


def _callgrind(*commands: str) -> None:
    """Tell the callgrind this process runs under (if it does) to zero, dump or toggle its counts."""
    if os.environ.get(UNDER_CALLGRIND):
        control = _tool("callgrind_control")
        for command in commands:
            subprocess.run([control, *command.split(), str(os.getpid())], capture_output=True, check=True)  # noqa: S603 - ours


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise SystemExit(f"--instructions needs {name}, part of valgrind (Debian: apt-get install valgrind)")
    return found


def instructions(events: int) -> dict[str, float]:
    """Instructions per event for each step: this script again, under callgrind, counting only the steps."""
    with tempfile.TemporaryDirectory(prefix="cartwire-callgrind-") as folder:
        output = Path(folder) / "callgrind.out"
        subprocess.run(  # noqa: S603 - our own command line
            [
                _tool("valgrind"),
                "--tool=callgrind",
                "--instr-atstart=no",
                f"--callgrind-out-file={output}",
                sys.executable,
                __file__,
                str(events),
            ],
            env={**os.environ, UNDER_CALLGRIND: "1"},
            cwd=Path(__file__).parent,
            check=True,
            capture_output=True,
        )
        return {_dumped_step(dump): _total(dump) / events for dump in Path(folder).glob("callgrind.out.*")}


def _dumped_step(dump: Path) -> str:
    """The step a dump holds: its trigger is `Client Request: <step>` (the name given to `-d`)."""
    for line in dump.read_text().splitlines():
        if line.startswith("desc: Trigger:"):
            return line.rsplit(" ", 1)[-1]
    raise ValueError(f"{dump} names no step")


def _total(dump: Path) -> int:
    for line in dump.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise ValueError(f"{dump} has no total")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("events", type=int, nargs="?", default=3000, help="shipped orders to run through")
    parser.add_argument("--instructions", action="store_true", help="count instructions under valgrind")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if arguments.instructions:
        counts = instructions(arguments.events)
        print("  ".join(f"{step} {counts[step] / 1e6:.2f}M" for step in STEPS), "instructions per event")
        return
    costs = measure(arguments.events)
    if os.environ.get(UNDER_CALLGRIND):
        return
    total = sum(costs.values())
    print(
        "  ".join(f"{step} {costs[step] * 1e6:.0f} µs" for step in STEPS),
        f"(sum {total * 1e6:.0f} µs)",
        "CPU per event",
    )


if __name__ == "__main__":
    main()
