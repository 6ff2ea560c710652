"""``hpc-e2e doctor`` before provisioning: fail fast on what provisioning cannot fix.

On a fresh runner ``hpc-e2e doctor`` reports the runtime rows (containerd service, CRI,
handlers) as failed, because nothing is deployed yet: that is what ``hpc-e2e provision``
is for, so those rows must not stop the job.  Everything else must: no elevation, an OS
too old, no virtualization extensions, too little disk — provisioning would fail later and
less clearly.

The Windows features are a special case.  Provisioning installs them and restarts the
host when Windows asks; for a host the runner drives remotely that is fine, but a host with
``transport = "local"`` *is* the runner, and restarting it would kill the job.  Such a
runner must get its features beforehand (``ci/bootstrap-lab-vm.ps1``).  A host whose
inventory says ``allow_restart = false`` (a hosted runner) runs without Hyper-V if it has
none installed: provisioning leaves it alone and the hyperv scenarios skip, so that row does
not block; a missing Containers feature still does.

Takes ``hpc-e2e doctor``'s own options (parsed by the CLI's parser, so they cannot drift),
prints the same readiness table, then one line per blocking row; exit code 1 when any
row blocks, 0 otherwise.  After provisioning, the job runs the plain ``hpc-e2e doctor``.
"""

from __future__ import annotations

import sys

from harness.cli import build_parser
from harness.commands import console
from harness.hosts import select_hosts
from harness.runtime.layout import runtime_layout
from harness.commands.doctor import CONTAINERS, CRI, FAIL, HANDLERS, HYPERV, SERVICE, doctor, render
from harness.errors import HarnessError

# Rows that `hpc-e2e provision` makes true.
PROVISIONED_ROWS = (SERVICE, CRI, HANDLERS)
FEATURE_ROWS = (HYPERV, CONTAINERS)
LOCAL_FEATURE_HINT = ("this runner is the host (transport = \"local\"): installing features "
                      "restarts it and would end the job; install them first with "
                      "ci/bootstrap-lab-vm.ps1 (it restarts once), then re-run")


def blocking(reports, targets) -> list[tuple[str, str, str, str]]:
    """``(host, row, detail, hint)`` of every failed row provisioning cannot fix."""
    local = {t.name for t in targets if t.transport == "local"}
    without_hyperv = {t.name for t in targets if not t.allow_restart}
    found = []
    for report in reports:
        for check in report.checks:
            if check.status != FAIL or check.name in PROVISIONED_ROWS:
                continue
            if check.name == HYPERV and report.host in without_hyperv:
                continue  # provision leaves it alone; the hyperv scenarios skip
            if check.name in FEATURE_ROWS:
                if report.host not in local:
                    continue  # provision installs it and restarts that host
                found.append((report.host, check.name, check.detail, LOCAL_FEATURE_HINT))
                continue
            found.append((report.host, check.name, check.detail, check.hint))
    return found


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(["doctor", *(sys.argv[1:] if argv is None else argv)])
    try:
        layout = runtime_layout(args.bundle)
        with select_hosts(inventory=args.inventory, hosts=args.host,
                          sim_state_dir=args.sim_state_dir) as selection:
            targets = selection.targets
            reports = doctor(targets, layout)
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    render(reports, console())
    problems = blocking(reports, targets)
    for host, row, detail, hint in problems:
        print(f"::error title={host}: {row}::{detail} — {hint}")
    if problems:
        print(f"{len(problems)} problem(s) that provisioning cannot fix")
        return 1
    print("ready to provision (runtime rows are expected to fail before provisioning)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
