"""A scaffolded connector, installed with this Cartwire into a fresh virtualenv: its own tests pass
there, `cartwire plugins` lists it and `cartwire check` accepts a rule that uses it.

Slow (tens of seconds: pip fetches Cartwire's dependencies from the package index), and the only
test that proves the packaging a third party relies on: the entry point, the pytest plugin and the
templates shipped as package data.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import cartwire
from cartwire.plugins.manager import AUTOLOAD_ENV
from cartwire.scaffold import scaffold

CHECKOUT = Path(cartwire.__file__).resolve().parents[2]
SHIPPED_RULE = """
rule "note shipped store orders in acme_shop"
  on 3dcart.order.status_changed
  when order.status = Shipped
  then acme_shop.add_note(order: order.invoice_number, text: "shipped by the store")
end
"""


def run(*command: str | Path, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {AUTOLOAD_ENV, "PYTHONPATH", "VIRTUAL_ENV"}}
    return subprocess.run(
        [str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def copy_of_checkout(target: Path) -> Path:
    """Cartwire's sources without build leftovers, so pip builds it the way a release would be."""
    target.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(CHECKOUT / name, target / name)
    shutil.copytree(
        CHECKOUT / "src" / "cartwire",
        target / "src" / "cartwire",
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"),
    )
    return target


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, Path]:
    """(the fresh venv's bin folder, the scaffolded package) with both installed in the venv."""
    if not (CHECKOUT / "pyproject.toml").exists():
        pytest.fail(f"Cartwire is not installed from a checkout ({CHECKOUT}); run the suite with `make test`")
    root = tmp_path_factory.mktemp("fresh-venv")
    package = root / "cartwire-acme-shop"
    scaffold("acme_shop", package)
    checkout = copy_of_checkout(root / "cartwire")
    venv = root / "venv"
    made = run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=root)
    assert made.returncode == 0, made.stderr
    # The test run's pip installs into the new environment (`--python`): it needs no pip of its own.
    python = venv / "bin" / "python"
    pip = run(
        sys.executable, "-m", "pip", "--python", python, "install", "--quiet", checkout, package, "pytest", cwd=root
    )
    assert pip.returncode == 0, pip.stdout + pip.stderr
    return venv / "bin", package


def test_the_scaffolds_own_tests_pass_in_the_fresh_environment(installed):
    bin_folder, package = installed
    result = run(bin_folder / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=package)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout
    assert "failed" not in result.stdout


def test_cartwire_plugins_lists_it(installed):
    bin_folder, package = installed
    result = run(bin_folder / "cartwire", "plugins", cwd=package)
    assert result.returncode == 0, result.stderr
    assert "acme_shop  (cartwire-acme-shop)" in result.stdout
    assert "connector acme_shop: cartwire_acme_shop.connector.AcmeShop" in result.stdout


def test_cartwire_check_accepts_rules_that_use_it_and_refuses_a_wrong_action(installed, tmp_path):
    bin_folder, package = installed
    (tmp_path / "shipped.rules").write_text(SHIPPED_RULE)
    accepted = run(bin_folder / "cartwire", "check", package / "rules", tmp_path / "shipped.rules", cwd=tmp_path)
    assert accepted.returncode == 0, accepted.stderr
    (tmp_path / "wrong.rules").write_text(SHIPPED_RULE.replace("add_note", "add_notes"))
    refused = run(bin_folder / "cartwire", "check", tmp_path / "wrong.rules", cwd=tmp_path)
    assert refused.returncode == 1
    assert "add_notes" in refused.stderr


def test_the_installed_cartwire_ships_the_templates(installed, tmp_path):
    bin_folder, _ = installed
    result = run(bin_folder / "cartwire", "new-connector", "acme_other", "--directory", tmp_path / "venv", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    scaffold("acme_other", tmp_path / "here")
    files = sorted(p.relative_to(tmp_path / "here") for p in (tmp_path / "here").rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(tmp_path / "venv") for p in (tmp_path / "venv").rglob("*") if p.is_file())
    for path in files:
        assert (tmp_path / "venv" / path).read_text() == (tmp_path / "here" / path).read_text()
