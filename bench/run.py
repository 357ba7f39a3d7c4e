"""`make bench`: every benchmark in one run, with the machine it ran on.

.venv/bin/python bench/run.py [--events 100000] [--repeats 5]
"""

from __future__ import annotations

import argparse

import condition
import runtime
import scaling
from harness import load, machine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000, help="orders in the condition benchmark")
    parser.add_argument("--runtime-events", type=int, default=2000, help="webhooks per runtime scenario")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per measurement (the median is shown)")
    arguments = parser.parse_args()
    if arguments.events < 1 or arguments.repeats < 1:
        parser.error("--events and --repeats must be at least 1")
    print(f"Machine: {machine()}; {load()} at the start\n")
    condition.run(arguments.events, arguments.repeats)
    print()
    scaling.run(arguments.repeats)
    print()
    runtime.run(arguments.runtime_events)


if __name__ == "__main__":
    main()
