"""`cartwire check --format json`: the diagnostics of a check as one JSON document.

The shape is stable (its `version` changes if a field ever changes meaning):

```json
{"version": 1, "files": 2, "errors": 1, "warnings": 0,
 "diagnostics": [{"severity": "error", "message": "…", "file": "rules/a.rules",
                  "line": 3, "column": 23, "end_line": 3, "end_column": 29,
                  "source_line": "…", "fix": "did you mean `Shipped`?"}]}
```

Lines and columns are 1-based, `end_column` is exclusive; `line` 0 means the whole file (a file
that cannot be read). `fix` is null when there is no suggestion.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from cartwire.grammar.diagnostics import Diagnostic

REPORT_VERSION = 1


def check_report(diagnostics: Sequence[Diagnostic], files: int) -> str:
    """The JSON text `cartwire check --format json` prints."""
    return json.dumps(
        {
            "version": REPORT_VERSION,
            "files": files,
            "errors": sum(1 for d in diagnostics if d.severity == "error"),
            "warnings": sum(1 for d in diagnostics if d.severity == "warning"),
            "diagnostics": [d.to_json() for d in diagnostics],
        },
        indent=2,
        ensure_ascii=False,
    )
