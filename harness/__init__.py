"""hpc-e2e: end-to-end tests for Windows HostProcess containers run by hcsshim.

Layers, bottom up (see DESIGN.md): ``sim`` (the simulated host, imported by nothing
above), ``config``, ``cmdline``, ``transport``, ``windows``, ``runtime``, ``cri``, and the
pytest plugin / CLI on top.  ``errors`` is shared by every layer.
"""

__version__ = "0.1.0"
