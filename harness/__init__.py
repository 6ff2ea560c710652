"""hpc-e2e: end-to-end tests for Windows HostProcess containers run by hcsshim.

Layers, bottom up (see docs/internals.md "Layout"; checked by import-linter, ``[tool.importlinter]`` in
pyproject.toml): ``secrets`` (redaction), ``errors``, ``config``, ``cmdline``, ``transport``,
``windows``, ``runtime``, ``cri``, ``hosts`` (the one module that imports ``sim``, the
simulated host), the pytest ``plugin``, ``bench``, ``commands`` and ``cli`` on top.

PYTEST_DONT_REWRITE: ``hpc-e2e run`` imports the package before pytest starts, and pytest marks
every top-level package of a distribution with a pytest11 entry point for rewriting; without
the marker a clean install warns that ``harness`` cannot be rewritten (it holds no asserts
that need it).
"""

__version__ = "0.1.0"
