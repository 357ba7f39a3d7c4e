"""`cartwire run` as a real process for the command-line tests: started, and ready once it answers."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

from cartwire.rules.loader import TEMPLATES_DIR


def write_run_config(directory: Path, port: int, rest: str) -> Path:
    """`cartwire.toml` in `directory` for `cartwire run` on `port`, with the shipped rules and a SQLite
    store beside it; `rest` follows the `[server]` table's port (more server settings, connectors)."""
    config = directory / "cartwire.toml"
    config.write_text(f'database = "cw.sqlite3"\nrules = ["{TEMPLATES_DIR}"]\n[server]\nport = {port}\n{rest}')
    return config


def start_run(
    config: Path, port: int, *options: str, env: Mapping[str, str] | None = None, deadline: float = 20.0
) -> subprocess.Popen[str]:
    """`cartwire run --config <config> <options>` in the configuration's folder, its output captured,
    returned once `/healthz` on `port` answers (an assertion error if it exits or never does)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "cartwire.cli", "run", "--config", str(config), *options],
        cwd=config.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    end = time.monotonic() + deadline
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz")
            return process
        except httpx.TransportError:
            if process.poll() is not None:
                raise AssertionError(
                    "cartwire run exited:\n" + (process.stdout.read() if process.stdout else "")
                ) from None
            if time.monotonic() > end:
                process.kill()
                process.wait()
                raise AssertionError("cartwire run did not start") from None
            time.sleep(0.1)
