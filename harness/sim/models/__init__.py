"""Models of other layers' PowerShell catalogs, one module per catalog owner.

Each module holds its entries in ``ENTRIES`` and is listed in
:data:`harness.sim.catalog.MODEL_MODULES`, which registers them on its first lookup.
"""
