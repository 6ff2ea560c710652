"""The suite's container images: ``images.toml`` (package data) and its one model.

``images.toml`` names the images per Windows build and defines the probe image;
:mod:`hpc_images.model` reads and checks it for every reader (the harness, the simulated
host's image store, ``images/render.py``).  ``probe-idle.c`` is the probe's idle program,
built by ``images/render.py`` (images/README.md).  A package of its own, standard library
only, so that the simulated host (which imports nothing of the harness) and a bare Python on a
Windows runner can read it too.

PYTEST_DONT_REWRITE: shipped in the distribution that registers the pytest plugin, and
imported before pytest starts (see harness/__init__.py).
"""

from hpc_images.model import (
    IMAGES_TOML,
    BuildEntry,
    ImagesTomlError,
    Program,
    Spec,
    expand,
    load_spec,
    validate,
)

__all__ = ["IMAGES_TOML", "BuildEntry", "ImagesTomlError", "Program", "Spec", "expand",
           "load_spec", "validate"]
