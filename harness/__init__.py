"""hpc-e2e: end-to-end tests for Windows HostProcess containers run by hcsshim.

Layers, bottom up (see DESIGN.md; checked by import-linter, ``[tool.importlinter]`` in
pyproject.toml): ``secrets`` (redaction), ``errors``, ``config``, ``cmdline``, ``transport``,
``windows``, ``runtime``, ``cri``, ``hosts`` (the one module that imports ``sim``, the
simulated host), the pytest ``plugin``, ``bench``, ``commands`` and ``cli`` on top.
"""

__version__ = "0.1.0"
