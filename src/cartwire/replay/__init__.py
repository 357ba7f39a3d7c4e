"""Recording real traffic safely, replaying it through rule sets, and testing rules (docs/testing-rules.md)."""

# Rule test files end so (a constant here, so the pytest plugin can know it without importing the engine).
RULE_TEST_SUFFIX = ".ruletest.toml"
