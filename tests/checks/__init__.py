"""Checks, run here, of what the harness sends to programs that cannot run here.

crictl, containerd and the CRI loader live on Windows hosts; what the harness hands them
(command lines, pod/container JSON, ``config.toml``) is checked against facts read from
their sources and kept in ``fixtures/`` (each fixture's ``$comment`` cites repository,
path and tag).  A silent mistake there - a flag crictl ignores, a key crictl or containerd
drops - would otherwise only show up as a wrong result on a real host.

* :mod:`.crictl_argv` - a crictl argv parsed the way urfave/cli v2 parses it;
* :mod:`.cri_schema` - the CRI JSON Schemas for ``runp``/``create`` files;
* :mod:`.containerd_keys` - ``config.toml`` walked against the keys a containerd line knows.
"""

from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
