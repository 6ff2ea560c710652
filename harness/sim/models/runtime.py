"""Models of the runtime layer's host scripts (``harness/windows/scripts/runtime_*.ps1``).

``runtime_download``: the simulated host has no network.  Its model follows the script up
to ``Invoke-WebRequest`` (TLS setup, full path, the destination folder must exist) and then
fails the way a host without a route would, naming the URL, so a bundle with ``url`` sources
can never look deployed on the sim.  Nothing is written.
"""

from __future__ import annotations

from harness.sim.catalog import CatalogEntry, Param
from harness.sim.programs.powershell import ScriptError

RUNTIME_DOWNLOAD_SOURCE = "harness/windows/scripts/runtime_download.ps1"


def runtime_download(sc) -> int:
    full = sc.full_path(sc.args["path"])
    directory, _ = sc.fs.split(full)
    if not sc.fs.is_dir(directory):
        raise ScriptError(f"the directory {directory} does not exist")
    raise ScriptError(f"the simulated host has no network: Invoke-WebRequest cannot download "
                      f"{sc.args['url']} (give the bundle a file source to deploy to the sim)")


# Registered by harness.sim.catalog on its first lookup.
ENTRIES = [CatalogEntry(
    name="runtime_download",
    sha256="0b803cc14a5826201d27e8fd3515cc76651b78f80eeea85e72de753f9bc3c455",
    implementation=runtime_download,
    params={"url": Param("string"), "path": Param("string"), "sha256": Param("string"),
            "member": Param("string", mandatory=False),
            "archive_sha256": Param("string", mandatory=False)},
    source=RUNTIME_DOWNLOAD_SOURCE,
)]
