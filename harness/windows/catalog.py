"""The host-operations script catalog and the one way this layer runs a script.

Scripts live in ``harness/windows/scripts`` and run through the transport's bootstrap
(docs/internals.md "Remote command contract").  :func:`call` turns a script's failure into
an error that says what to do: a script that needs elevation says so in a fixed phrase
("requires elevation" / "Access is denied"), which becomes :class:`ElevationRequired`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.transport.base import Transport
from harness.transport.powershell import ScriptCatalog, ScriptResult, run_script
from harness.windows.errors import ElevationRequired, HostScriptError

SCRIPTS_DIR = Path(__file__).resolve().with_name("scripts")
SCRIPTS = ScriptCatalog(SCRIPTS_DIR)

_ELEVATION = re.compile(r"requires elevation|Access is denied", re.IGNORECASE)
_PREFIX = re.compile(r"^hpc-e2e: [\w.-]+: ")


def failure_text(result: ScriptResult) -> str:
    """The script's error message: its stderr without the bootstrap's prefix, or stdout."""
    text = (result.stderr or "").strip() or (result.stdout or "").strip()
    lines = [_PREFIX.sub("", line).rstrip() for line in text.splitlines() if line.strip()]
    return "\n".join(lines[-8:])


def call(transport: Transport, name: str, args: Mapping[str, Any] | None = None, *,
         timeout: float, catalog: ScriptCatalog = SCRIPTS, what: str | None = None,
         stdin_chunks: Iterable[bytes] | None = None, repeatable: bool = False) -> Any:
    """Run catalog script ``name`` and return its result value.

    ``repeatable=True`` only for scripts that read (facts, hashes, states): a transient
    transport failure then runs the script again (harness/transport/retry.py).

    Raises :class:`ElevationRequired` when the script refused for lack of elevation,
    :class:`HostScriptError` (a :class:`~harness.errors.RemoteCommandError`) for any other
    failure, and :class:`HarnessError` if a successful script wrote no result.
    """
    result = run_script(transport, name, args, timeout=timeout, catalog=catalog,
                        check=False, stdin_chunks=stdin_chunks, repeatable=repeatable)
    host = transport.target.name
    if result.exit_code != 0:
        text = failure_text(result)
        if _ELEVATION.search(text):
            raise ElevationRequired(f"{host}: cannot {what or name}: {text}")
        raise HostScriptError(result.command, f"{host}: cannot {what or name}: {text}",
                              text=text)
    if result.value is None:
        raise HarnessError(f"{host}: script {name} succeeded but wrote no result line",
                           hint="the host is not answering with the hpc-e2e script protocol")
    return result.value


__all__ = ["SCRIPTS", "SCRIPTS_DIR", "call", "failure_text"]
