"""Support for the vendor simulators: scenes, fault profiles, the hostile HTTP server."""
