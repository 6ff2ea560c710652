"""Models of other layers' PowerShell catalogs, one module per catalog owner.

Each module registers its entries with :func:`harness.sim.catalog.register` on import and is
listed in :data:`harness.sim.catalog.MODEL_MODULES`.
"""
