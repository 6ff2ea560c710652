"""Fixtures of the real-CRI lane: tools, the loopback registry, containerd, the client.

Session-wide: one registry serving the lane's images and one containerd per containerd
build (started on first use, stopped at the end).  Per test: a :class:`Crictl` client
with its own run id, driving a real crictl through :class:`PosixLocalTransport`; its
``cleanup()`` runs afterwards whatever the outcome.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from realcri import tools as lane_tools
from realcri.containerd import RealContainerd
from realcri.registry import ImageStore, Registry
from realcri.stack import STACKS, Stack


@pytest.fixture(scope="session")
def real_tools() -> lane_tools.Tools:
    return lane_tools.load()


@pytest.fixture(scope="session")
def registry(real_tools):
    store = ImageStore()
    for name, archive in real_tools.images.items():
        store.load(f"hpc-e2e/{name}", Path(archive))
    reg = Registry(store).start()
    yield reg
    reg.stop()


@pytest.fixture(scope="session")
def containerds(real_tools, registry):
    """``get(major)``: the containerd of that major release ("2" or "1"), started once."""
    started: dict[str, RealContainerd] = {}
    crictl = next(iter(real_tools.crictl.values()))

    def get(flavor: str) -> RealContainerd:
        if flavor not in started:
            version, spec = real_tools.containerd_build(flavor)
            ctrd = RealContainerd(spec["bin"], spec["config_version"], registry.host,
                                  f"{registry.host}/hpc-e2e/pause:1")
            started[flavor] = ctrd.start(crictl)
        return started[flavor]

    yield get
    for ctrd in started.values():
        ctrd.stop()


@pytest.fixture(params=[pytest.param(s, id=f"crictl-{s[0]}-containerd-{s[1]}") for s in STACKS])
def stack(request, real_tools, registry, containerds, tmp_path) -> Stack:
    crictl_version, major = request.param
    path = real_tools.crictl.get(crictl_version)
    if path is None:
        lane_tools.missing(f"no crictl {crictl_version} in tools.json")
    version, _ = real_tools.containerd_build(major)
    flavor = major if major != "1" else ".".join(version.split(".")[:2])
    return Stack(crictl_version, path, flavor, containerds(major), registry, tmp_path)


@pytest.fixture
def real(stack):
    """A client for this test's run; everything the run made is removed afterwards."""
    client = stack.client()
    yield client
    with contextlib.suppress(Exception):
        client.cleanup()


# --- the differential table -----------------------------------------------------------------
_DIFF_ROWS: list[dict] = []


@pytest.fixture
def diff_table() -> list[dict]:
    """Rows of the sim-versus-real comparison, printed at the end of the run."""
    return _DIFF_ROWS


def pytest_terminal_summary(terminalreporter) -> None:
    if not _DIFF_ROWS:
        return
    tr = terminalreporter
    tr.section("simulated crictl vs real crictl + containerd")
    rows = [("operation", "field", "real stack", "sim", "real", "verdict")]
    for r in _DIFF_ROWS:
        if r["verdict"] == "same" and r["field"] != "outcome":
            continue  # one line per agreeing operation: its outcome
        rows.append((r["op"], r["field"], r["stack"], _short(r["sim"]), _short(r["real"]),
                     r["verdict"]))
    widths = [min(max(len(str(row[i])) for row in rows), 60) for i in range(5)]
    for row in rows:
        cells = [str(c)[:w].ljust(w) for c, w in zip(row, widths)]
        tr.write_line(" | ".join(cells + [str(row[5])]))
    ops = {r["op"] for r in _DIFF_ROWS}
    stacks = {r["stack"] for r in _DIFF_ROWS}
    different = [r for r in _DIFF_ROWS if r["verdict"] != "same"]
    tr.write_line(f"{len(ops)} operations x {len(stacks)} real stacks compared; "
                  f"{len(different)} differing fields "
                  f"({sum(r['verdict'].startswith('RECORDED') for r in different)} recorded, "
                  f"{sum(not r['verdict'].startswith('RECORDED') for r in different)} not)")


def _short(value) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text.replace("\n", "\\n")
