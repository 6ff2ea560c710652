"""The ``hpc-e2e`` verbs beyond argument parsing: ``run``, ``doctor``, ``provision``, ``clean``,
``report``, ``bench`` and ``sim``.

``harness/cli.py`` only declares options; each verb's module here does the work and
returns the process exit code, so tests can drive a verb without a subprocess.  What the
verbs share lives in this module: the console they print to.  Which hosts a command talks to
(an inventory, or the simulated host) and running one function per host in parallel are
:mod:`harness.hosts`'s; where the runtime sits on them is :mod:`harness.runtime.layout`'s.
"""

from __future__ import annotations

import logging
import os
import sys

from rich.console import Console

log = logging.getLogger("harness.commands")


def console(*, stderr: bool = False):
    """A rich console; wide when not on a terminal, so tables in logs are not wrapped.

    ``COLUMNS`` in the environment wins, as it does for other terminal programs.
    """
    stream = sys.stderr if stderr else sys.stdout
    terminal = stream.isatty()
    width = None if terminal or "COLUMNS" in os.environ else 160
    return Console(file=stream, width=width, soft_wrap=False,
                   highlight=False)


__all__ = ["console"]
