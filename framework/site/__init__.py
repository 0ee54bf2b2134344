"""The opened site: its config, store, journal and platforms, and the checks run against it."""
