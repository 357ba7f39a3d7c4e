"""Tools for testing rules and connectors: emulators served on loopback, fixtures."""
