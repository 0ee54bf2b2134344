"""The operator and supervisor console: server-rendered screens over the same data and actions as the API."""
