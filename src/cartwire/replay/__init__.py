"""Recording real traffic safely, replaying it through rule sets, and testing rules (docs/testing-rules.md)."""
