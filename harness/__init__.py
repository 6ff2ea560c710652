"""hpc-e2e: end-to-end tests for Windows HostProcess containers run by hcsshim.

Layers, bottom up (see DESIGN.md; checked by import-linter, ``[tool.importlinter]`` in
pyproject.toml): ``secrets`` (redaction), ``errors``, ``config``, ``cmdline``, ``transport``,
``windows``, ``runtime``, ``cri``, ``hosts`` (the one module that imports ``sim``, the
simulated host), the pytest ``plugin``, ``bench``, ``commands`` and ``cli`` on top.

PYTEST_DONT_REWRITE: ``hpc-e2e run`` has imported the package before pytest starts, and
pytest would warn that it cannot rewrite the asserts of the plugin's distribution (it holds
none that need it; see harness/plugin/__init__.py).
"""

__version__ = "0.1.0"
