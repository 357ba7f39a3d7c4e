"""Rule templates shipped with Cartwire (*.rules) and the loader that reads rule sets."""
