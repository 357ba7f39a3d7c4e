"""3dcart's JSON with exact numbers: the kit's `cartwire.plugins.jsonwire`, kept under this name."""

from cartwire.plugins.jsonwire import dumps, kind, loads

__all__ = ["dumps", "kind", "loads"]
