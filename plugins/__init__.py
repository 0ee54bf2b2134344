"""Vendor integrations shipped with watchkeeper, one subpackage each, loaded like third-party plugins."""
