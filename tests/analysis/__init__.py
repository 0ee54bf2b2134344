"""Frame analysis tests: kernel against the numpy reference, checks, CLI, accuracy floor."""
