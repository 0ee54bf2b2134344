"""Tests of the Hikvision plugin (a package, so its conftest does not clash with other vendors\x27)."""
