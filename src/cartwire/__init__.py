"""Cartwire: keeps a store, its payment provider and its back office in step, driven by rules."""

__version__ = "0.1.0"
__all__ = ["__version__"]
