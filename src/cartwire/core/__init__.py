"""The engine's core: money and time, events, types, compiled rules and the runtime."""
