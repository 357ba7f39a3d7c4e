"""`cartwire check --config` knows the configured destinations."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from cartwire.cli import main

CONFIG = """
[connectors.shipstation]
[connectors.webhook.destinations.zapier]
url = "https://hooks.zapier.com/hooks/catch/1/abc/"
secret = "${ZAPIER_SECRET}"
"""
RULE = """rule "tell zapier"
  on shipstation.shipment.created
  then webhook.post(destination: DEST, body: "{{ {'order': shipment.order_number} | tojson }}")
end
"""


@pytest.mark.parametrize(("destination", "exit_code"), [("zapier", 0), ("zapir", 1)])
def test_check_knows_the_configured_destinations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, destination: str, exit_code: int
) -> None:
    monkeypatch.setenv("ZAPIER_SECRET", "s3cret-value")
    (tmp_path / "cartwire.toml").write_text(CONFIG)
    (tmp_path / "zap.rules").write_text(RULE.replace("DEST", destination))
    result = CliRunner().invoke(
        main, ["check", "--config", str(tmp_path / "cartwire.toml"), str(tmp_path / "zap.rules")]
    )
    assert result.exit_code == exit_code, result.output
    if exit_code:
        assert "zap.rules:3:34: error: `zapir` is not a value of `destination`" in result.output
        assert "did you mean `zapier`?" in result.output
    assert "s3cret-value" not in result.output
