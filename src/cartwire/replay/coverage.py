"""Which rules never fired and which conditions were never true or never false, per rule file.

Counted from the reference interpreter's observations (see `trace`): a condition that
short-circuiting skipped was neither true nor false on that event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cartwire.replay.trace import Branch, Outcome, TracedRules


@dataclass
class _Counts:
    true: int = 0
    false: int = 0


@dataclass
class Coverage:
    rules: TracedRules
    fired: dict[str, int] = field(default_factory=dict)
    branches: dict[Branch, _Counts] = field(default_factory=dict)
    events: int = 0

    def add(self, outcome: Outcome) -> None:
        self.events += 1
        for trace in outcome.rules:
            if trace.fired:
                self.fired[trace.rule] = self.fired.get(trace.rule, 0) + 1
            for decided in trace.conditions:
                counts = self.branches.setdefault(decided.branch, _Counts())
                counts.true += True in decided.values
                counts.false += False in decided.values

    def report(self) -> dict[str, Any]:
        """Per rule file: rules and branches, what was never reached, and the percentages."""
        files = {}
        for path, names in self.rules.files().items():
            rules = []
            outcomes = reached = 0
            for name in names:
                branches = []
                for branch in self.rules.branches(name):
                    counts = self.branches.get(branch, _Counts())
                    outcomes += 2
                    reached += (counts.true > 0) + (counts.false > 0)
                    branches.append(
                        {"path": branch.path, "condition": branch.text, "true": counts.true, "false": counts.false}
                    )
                rules.append({"rule": name, "fired": self.fired.get(name, 0), "branches": branches})
            fired = sum(1 for r in rules if r["fired"])
            files[path] = {
                "rules": rules,
                "rules_fired": fired,
                "rules_total": len(rules),
                "branch_outcomes_seen": reached,
                "branch_outcomes_total": outcomes,
                "never_fired": [r["rule"] for r in rules if not r["fired"]],
                "never_true": _never(rules, "true"),
                "never_false": _never(rules, "false"),
            }
        return {"events": self.events, "files": files}


def _never(rules: list[dict[str, Any]], side: str) -> list[dict[str, str]]:
    return [
        {"rule": r["rule"], "path": b["path"], "condition": b["condition"]}
        for r in rules
        for b in r["branches"]
        if not b[side]
    ]


def render_table(report: dict[str, Any]) -> list[str]:
    """The report as text: a summary line per file, then what was never exercised."""
    lines = [f"coverage over {report['events']} event{'s' if report['events'] != 1 else ''}:"]
    width = max([len("rule file"), *map(len, report["files"])])
    lines.append(f"  {'rule file':<{width}}  {'rules fired':>11}  {'true/false seen':>15}")
    for path, data in report["files"].items():
        rules = f"{data['rules_fired']}/{data['rules_total']}"
        branches = f"{data['branch_outcomes_seen']}/{data['branch_outcomes_total']}"
        lines.append(f"  {path:<{width}}  {rules:>11}  {branches:>15}")
    for path, data in report["files"].items():
        gaps = [f"    never fired: rule {name!r}" for name in data["never_fired"]]
        gaps += [f"    never true:  rule {b['rule']!r}: {b['condition']}" for b in data["never_true"]]
        gaps += [f"    never false: rule {b['rule']!r}: {b['condition']}" for b in data["never_false"]]
        if gaps:
            lines += [f"  {path}:", *gaps]
    return lines
