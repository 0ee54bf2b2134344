"""The plugin host: loads plugins, validates what they register, opens a site."""

from watchkeeper.host.pluginhost import PluginLoadError, collect_platforms, load_plugins, open_site

__all__ = ["PluginLoadError", "collect_platforms", "load_plugins", "open_site"]
