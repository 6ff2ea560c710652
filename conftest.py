"""Load the hpc-e2e plugin for runs from a checkout that is not installed.

An install registers the plugin through its entry point (``pytest11: hpc_e2e``); naming it
here as well would register the same module twice, which pytest refuses.  So it is named
only when the entry point is absent or plugin autoloading is off.
"""

import os
from importlib.metadata import entry_points

if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD") or \
        not entry_points(group="pytest11", name="hpc_e2e"):
    pytest_plugins = ["harness.plugin"]
