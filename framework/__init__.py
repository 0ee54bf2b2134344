"""watchkeeper: a CCTV site's recording-management regulation, carried out every day with evidence."""

import pluggy

__version__ = "0.1.0"

PROJECT_NAME = "watchkeeper"

#: Plugins mark their hook implementations with ``@hookimpl``.
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
#: Only ``watchkeeper.hookspecs`` declares hooks.
hookspec = pluggy.HookspecMarker(PROJECT_NAME)

__all__ = ["hookimpl", "hookspec", "__version__", "PROJECT_NAME"]
