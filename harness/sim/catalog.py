"""The PowerShell scripts the simulated host understands, pinned by content hash.

The sim never runs PowerShell: it recognises the harness's bootstrap and each catalog script
by name **and** the SHA-256 of the exact text it was modelled on, and runs a Python model of
that text (docs/internals.md "The simulated host").  The hashes are written here by hand,
not computed from the ``.ps1`` files at run time: editing a script makes the sim refuse it
loudly until its model has been reviewed and the pin updated (``tests/test_sim_catalog.py``
says which one).  A model that silently followed any text would let a broken script pass.

Hashes are over the script's UTF-8 bytes with ``\\n`` line endings and no BOM: the form the
harness sends.

Other layers' scripts (``harness/windows/scripts``) are modelled in the modules listed in
:data:`MODEL_MODULES`; each holds its entries in ``ENTRIES`` and the catalog registers them on
the first lookup.  The catalog reads ``ENTRIES`` rather than letting a model module register
itself on import: an import is done once per process, but the catalog may be imported anew
(pytester's in-process runs drop the modules they imported), and a new catalog must still
learn every model.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

# The bootstrap the sim's powershell.exe accepts behind -EncodedCommand.
BOOTSTRAP_SOURCE = "harness/transport/scripts/bootstrap.ps1"
BOOTSTRAP_SHA256 = "0e462a6dfd73e7b89e6ae3b5c08aa3e5831682eba1527a302a1959dcde32011a"


@dataclass(frozen=True)
class Param:
    """One ``param()`` entry of a script, as PowerShell would bind it."""

    type: str  # "string" | "int" | "long" | "bool" | "switch" | "string[]" | "object"
    mandatory: bool = True


Implementation = Callable[..., "int | None"]


@dataclass(frozen=True)
class CatalogEntry:
    """A script the sim knows: its name, the pinned hash of its text, and its model.

    ``implementation`` is a callable ``(ScriptContext) -> int | None`` or a
    ``"module:attribute"`` string imported on first use (so models can live beside the
    programs they touch without import cycles).  ``source`` is the repository path of the
    ``.ps1`` the model was written against.
    """

    name: str
    sha256: str
    implementation: Implementation | str
    params: Mapping[str, Param] = field(default_factory=dict)
    source: str = ""

    def resolve(self) -> Implementation:
        impl = self.implementation
        if isinstance(impl, str):
            module, _, attr = impl.partition(":")
            impl = getattr(importlib.import_module(module), attr)
        return impl


class UnknownScript(LookupError):
    """The sim has no model of a script with this name and hash."""

    def __init__(self, name: str, sha256: str, known: CatalogEntry | None):
        if known is None:
            text = f"the simulated host does not know script {name!r} with sha256 {sha256}"
        else:
            text = (f"the simulated host does not know script {name!r} with sha256 {sha256}: "
                    f"its model of {name} was written for sha256 {known.sha256} "
                    f"({known.source or 'unknown source'}); the script changed, so its model "
                    "must be reviewed (tests/test_sim_catalog.py names the pin to update)")
        super().__init__(text)
        self.name = name
        self.sha256 = sha256


# Modules whose import registers more entries (models of other layers' script catalogs).
MODEL_MODULES: list[str] = ["harness.sim.models.windows", "harness.sim.models.runtime",
                             "harness.sim.models.crictl_batch"]

_lock = threading.Lock()
_entries: dict[str, CatalogEntry] = {}
_loaded: set[str] = set()


def _load_models() -> None:
    for module in MODEL_MODULES:
        if module not in _loaded:
            # A listed module that is missing, or has no ENTRIES, is a sim bug: let it raise.
            for entry in importlib.import_module(module).ENTRIES:
                register(entry)
            _loaded.add(module)


def register(entry: CatalogEntry) -> CatalogEntry:
    """Add (or replace) the model of one script; names compare case-insensitively."""
    if len(entry.sha256) != 64 or entry.sha256 != entry.sha256.lower():
        raise ValueError(f"{entry.name}: sha256 must be 64 lowercase hex digits")
    with _lock:
        _entries[entry.name.lower()] = entry
    return entry


def entries() -> list[CatalogEntry]:
    _load_models()
    with _lock:
        return sorted(_entries.values(), key=lambda e: e.name)


def lookup(name: str, sha256: str) -> CatalogEntry:
    """The entry for ``name`` whose pinned hash is ``sha256``; :class:`UnknownScript` else."""
    _load_models()
    with _lock:
        entry = _entries.get(str(name).lower())
    if entry is None or entry.sha256 != str(sha256).lower():
        raise UnknownScript(name, sha256, entry)
    return entry


_MODELS = "harness.sim.programs.powershell"

# The transport's own scripts (docs/internals.md "Files over WinRM").
register(CatalogEntry(
    name="receive_file",
    sha256="311b622c77cf3976fcc95954b67332f821b37d65f56b3cd4b16dca0817c2c262",
    implementation=f"{_MODELS}:receive_file",
    params={"path": Param("string"), "sha256": Param("string"), "size": Param("long")},
    source="harness/transport/scripts/receive_file.ps1",
))
register(CatalogEntry(
    name="send_file",
    sha256="c60c242dca8c9a229915de460f20a8a65c235ae71e0896aefbcf254d9e47cc61",
    implementation=f"{_MODELS}:send_file",
    params={"path": Param("string"), "chunk": Param("int")},
    source="harness/transport/scripts/send_file.ps1",
))
register(CatalogEntry(
    name="file_hash",
    sha256="6bb4b2ff2b5a4d85a129b9ccbf7d175295576f156786102d712ce50164436268",
    implementation=f"{_MODELS}:file_hash",
    params={"path": Param("string")},
    source="harness/transport/scripts/file_hash.ps1",
))

