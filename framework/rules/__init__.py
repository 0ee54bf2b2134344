"""Built-in rule plugins: one module per clause of the regulation, loaded like third-party plugins."""
