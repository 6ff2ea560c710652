"""Shell: cmd built-ins, exit codes and program lookup in an HPC.

An HPC in a UVM is created *outside* the container's silo, where a bare ``echo`` or a program
that exists only in the rootfs cannot be found; so the shim prefixes ``cmd /c`` to the init
process and every exec unless the command already starts with ``cmd``/``cmd.exe``
(docs/behaviour/runtime.md §2.5).  A process-isolated HPC on a bind-filter host always gets
``cmd /c``, even in front of ``cmd`` (§3.3, §8 item 9).  The scenarios run the same commands
in both modes: bare built-ins, chains and redirections, exit codes, a rootfs-only program by
bare name, and the two ways a process reaches the shim — ``Args`` (ExecSync, and an image
without ArgsEscaped) and ``CommandLine`` (an image with ArgsEscaped; §4.3).
"""

from __future__ import annotations

import pytest

from harness.plugin.api import (
    INHERIT_USER_ANNOTATION,
    ISOLATIONS,
    ROOTFS_LOCATION_ANNOTATION,
    CriStageError,
    explain_refusal,
)

# Where the user is not the subject, the pod asks to inherit it: SYSTEM in both modes, set by
# the shim itself (docs/behaviour/runtime.md §2.5 in a UVM, §3.3 for a job container).
INHERIT = {INHERIT_USER_ANNOTATION: "true"}
ROOTFS = "C:\\hpc-e2e-rootfs"  # a rootfs location given explicitly (§2.4), also the workdir
# Whether a command that already starts with ``cmd /c`` gets a second one: the HV-HPC wrap
# leaves basename cmd alone (§2.5); PI-HPC on a bind-filter host always prepends cmd /c
# (§3.3, §8 item 9; the harness's hosts are WS2022+).
WRAPPED_TWICE = {"process": True, "hyperv": False}
# ``cmd /c echo %CMDCMDLINE%`` prints the command line of the outermost cmd (the inner one's
# expansion happens after the outer one has already replaced the variable).
TWICE_PREFIX = "cmd /c cmd /c echo "


def lines(text: str) -> list[str]:
    """Output lines without trailing blanks (``echo one && ...`` prints ``one `` )."""
    return [line.rstrip() for line in text.strip().splitlines()]


def could_not_start(isolation: str, what: str, refused: CriStageError) -> str:
    """Why ``what`` could not start: a missing working directory (a rootfs not mounted, a
    wrong working directory) is not the wrap's fault; a program not found is (§2.5)."""
    meaning = explain_refusal(refused.runtime_message)
    if "working directory" in meaning:
        return (f"{isolation}: {what} could not start: {meaning} (§1.4, §3.3); the runtime "
                f"said: {refused.runtime_message}")
    return (f"{isolation}: {what} must run through the cmd /c wrap (§2.5), but the runtime "
            f"could not start it{f' ({meaning})' if meaning else ''}: "
            f"{refused.runtime_message}")


def run_bare(hpc, command: list[str], isolation: str):
    """Exec ``command`` as given.  A runtime that cannot even start it (file not found: the
    launcher outside the silo sees no built-ins and no rootfs) lacks the wrap (§2.5)."""
    __tracebackhide__ = True
    hpc.id  # noqa: B018 - a shared HPC is started here, so its own refusal is not taken for exec's
    try:
        return hpc.exec(command)
    except CriStageError as exc:
        refused = exc  # failed below, outside the handler: the failure is the message
    pytest.fail(could_not_start(isolation, repr(" ".join(command)), refused))


def start_bare(container, isolation: str) -> None:
    """Start a container whose command is given as is; see :func:`run_bare`."""
    __tracebackhide__ = True
    try:
        container.start()
        return
    except CriStageError as exc:
        refused = exc
    pytest.fail(could_not_start(
        isolation, f"the container command {' '.join(container.spec.command)!r}", refused))


@pytest.mark.reference("docs/behaviour/runtime.md §2.5")
@pytest.mark.parametrize("command, expected", [
    pytest.param(["echo", "hpc-e2e", "says", "hello"], "hpc-e2e says hello", id="echo"),
    pytest.param(["set", "SystemRoot"], "SystemRoot=C:\\Windows", id="set"),
    pytest.param(["dir", "/b", "C:\\Windows\\System32\\cmd.exe"], "cmd.exe", id="dir"),
    pytest.param(["echo", "one", "&&", "echo", "two"], "one\r\ntwo", id="and-chain"),
    pytest.param(["echo", "first", "&", "echo", "second"], "first\r\nsecond", id="chain"),
])
@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_bare_builtin_through_exec(shared_hpc, isolation, placement, command, expected):
    """A bare cmd built-in given to ``crictl exec`` runs.

    Pod: host_process, inherit-user.  Container: the shared idle HPC.  Command: exec the
    built-in without ``cmd /c`` (``echo``, ``set``, ``dir``, an ``&&`` chain, an ``&`` chain).
    Expected: exit 0 and the built-in's output (§2.5: every exec of an HV-HPC is wrapped in
    ``cmd /c``; §3.3: PI-HPC always is).
    """
    hpc = shared_hpc
    result = run_bare(hpc, command, isolation)
    assert result.exit_code == 0, (
        f"{isolation}: bare built-in {command[0]!r} must run through the cmd /c wrap (§2.5); "
        f"exit {result.exit_code}: {result.stderr.strip()}")
    assert lines(result.stdout.lower()) == lines(expected.lower()), (
        f"{isolation}: {' '.join(command)} must print {expected!r}; got {result.stdout!r}")
    placement.check(hpc, isolation)


@pytest.mark.reference("docs/behaviour/runtime.md §2.5")
@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_redirection_and_type_through_exec(shared_hpc, isolation, placement):
    """A redirection writes a file that ``type`` reads back, both bare.

    Pod: host_process, inherit-user.  Container: the shared idle HPC.  Commands: exec
    ``echo hpc-e2e-redirected > redirect.txt``, then ``type redirect.txt`` (in the working
    directory, the container's rootfs: nothing lands on the host's own disk).
    Expected: both exit 0; ``type`` prints the echoed text (§2.5: redirection needs cmd).
    """
    hpc = shared_hpc
    wrote = run_bare(hpc, ["echo", "hpc-e2e-redirected", ">", "redirect.txt"], isolation)
    assert wrote.exit_code == 0, (
        f"{isolation}: a bare redirection must run through the cmd /c wrap (§2.5); exit "
        f"{wrote.exit_code}: {wrote.stderr.strip()}")
    read = run_bare(hpc, ["type", "redirect.txt"], isolation)
    assert read.exit_code == 0 and read.stdout.strip() == "hpc-e2e-redirected", (
        f"{isolation}: type must read back what the redirection wrote; exit "
        f"{read.exit_code}, stdout {read.stdout!r}, stderr {read.stderr.strip()!r}")
    placement.check(hpc, isolation)


@pytest.mark.reference("docs/behaviour/runtime.md §2.5")
@pytest.mark.parametrize("command, code", [
    pytest.param(["cmd", "/c", "exit", "3"], 3, id="explicit-cmd"),
    pytest.param(["exit", "4"], 4, id="bare-exit"),
    pytest.param(["echo", "x", "&&", "cmd", "/c", "exit", "5"], 5, id="end-of-chain"),
])
@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_exec_exit_code_propagates(shared_hpc, isolation, placement, command, code):
    """The exit code of an exec'd command reaches the caller unchanged.

    Pod: host_process, inherit-user.  Container: the shared idle HPC.  Command: exec a command
    that exits with a chosen code (explicit ``cmd /c exit``, a bare ``exit``, the end of a
    chain).
    Expected: that code (§2.5: the wrapping cmd ends with the command's ERRORLEVEL;
    docs/behaviour/ecosystem.md §3.4 for how crictl reports it).
    """
    hpc = shared_hpc
    result = run_bare(hpc, command, isolation)
    assert result.exit_code == code, (
        f"{isolation}: exit code {code} of {' '.join(command)!r} must propagate through the "
        f"wrap (§2.5); got {result.exit_code}")
    placement.check(hpc, isolation)


@pytest.mark.reference("docs/behaviour/runtime.md §8")
@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_missing_program_is_cmds_not_recognized(shared_hpc, isolation, placement, expect):
    """A program that exists nowhere fails the exec with cmd's "not recognized", not a refusal.

    Pod: host_process, inherit-user.  Container: the shared idle HPC.
    Command: exec ``hpc-e2e-no-such-program``.
    Expected: cmd's message and the profile's ``<isolation>.missing_program.exit_code``
    (§8 item 9 [inference]: because of the wrap, 9009 rather than a create error).
    """
    hpc = shared_hpc
    result = run_bare(hpc, ["hpc-e2e-no-such-program"], isolation)
    assert "is not recognized" in result.stderr, (
        f"{isolation}: a missing program must be reported by the wrapping cmd (§8 item 9); "
        f"exit {result.exit_code}, stderr {result.stderr.strip()!r}")
    expect.check(f"{isolation}.missing_program.exit_code", result.exit_code)
    placement.check(hpc, isolation)


@pytest.mark.reference("docs/behaviour/runtime.md §2.5")
@pytest.mark.parametrize("program, expected", [
    pytest.param("probe-hello", "hello from the hpc-e2e probe rootfs", id="batch"),
    pytest.param("probe-whoami", "nt authority\\system", id="exe"),
])
@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_rootfs_only_program_by_bare_name(pods, isolation, placement, program, expected):
    """A program that exists only in the image's rootfs runs by its bare name.

    Pod: host_process, inherit-user, rootfs-location ``C:\\hpc-e2e-rootfs``.  Container: the
    idle probe HPC, working_dir = that location.  Command: exec ``probe-hello`` (a batch file)
    or ``probe-whoami`` (a copy of whoami.exe), both only in the probe image
    (hpc_images/images.toml).  Expected: exit 0 and the program's output (§2.5: without the wrap
    the launcher, outside the silo, cannot see the rootfs).
    """
    pod = pods.run(isolation, annotations={**INHERIT, ROOTFS_LOCATION_ANNOTATION: ROOTFS})
    hpc = pods.start_long_running(pod, working_dir=ROOTFS)
    result = run_bare(hpc, [program], isolation)
    assert result.exit_code == 0, (
        f"{isolation}: rootfs-only program {program!r} must run by bare name through the "
        f"cmd /c wrap (§2.5); exit {result.exit_code}: {result.stderr.strip()}")
    assert lines(result.stdout.lower()) == [expected], (
        f"{isolation}: {program} must print {expected!r}; got {result.stdout!r}")
    placement.check(hpc, isolation)


@pytest.mark.reference("docs/behaviour/runtime.md §2.5")
@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_explicit_cmd_is_not_wrapped_twice_through_exec(shared_hpc, isolation, placement):
    """An exec that already starts with ``cmd /c`` is not wrapped again in a UVM.

    Pod: host_process, inherit-user.  Container: the shared idle HPC.  Command: exec
    ``cmd /c echo %CMDCMDLINE%`` (cmd prints its own command line).
    Expected: the outermost command line is the command itself for HV-HPC (§2.5: basename
    cmd is left alone) and ``cmd /c cmd /c ...`` for PI-HPC on a bind-filter host (§3.3,
    §8 item 9: always prepended).
    """
    hpc = shared_hpc
    result = hpc.exec(["cmd", "/c", "echo", "%CMDCMDLINE%"])
    assert result.exit_code == 0, f"{isolation}: cmd /c echo must run (exit " \
                                  f"{result.exit_code}: {result.stderr.strip()})"
    twice = result.stdout.lower().startswith(TWICE_PREFIX)
    assert twice == WRAPPED_TWICE[isolation], (
        f"{isolation}: an explicit cmd /c exec must {'' if WRAPPED_TWICE[isolation] else 'not '}"
        f"be wrapped in a second cmd /c (§2.5, §3.3); the outer command line was "
        f"{result.stdout.strip()!r}")
    placement.check(hpc, isolation)


@pytest.mark.reference("docs/behaviour/runtime.md §2.5")
@pytest.mark.parametrize("spelling", [
    pytest.param("CMD", id="upper-case"),
    pytest.param("Cmd.exe", id="mixed-case-exe"),
    pytest.param("C:\\Windows\\System32\\cmd.exe", id="full-path"),
])
@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_cmd_in_any_spelling_is_not_wrapped_twice(shared_hpc, isolation, placement, spelling):
    """Whether an exec already starts with cmd is decided case-insensitively on the base name.

    Pod: host_process, inherit-user.  Container: the shared idle HPC.  Command: exec
    ``<spelling> /c echo %CMDCMDLINE%`` with ``CMD``, ``Cmd.exe`` or
    ``C:\\Windows\\System32\\cmd.exe``.
    Expected: in a UVM the outer command line is the command itself (§2.5: the shim compares
    ``strings.ToLower(filepath.Base(arg0))`` with ``cmd``/``cmd.exe``); a process-isolated
    HPC on a bind-filter host always gets one ``cmd /c`` in front (§3.3, §8 item 9).
    """
    hpc = shared_hpc
    result = hpc.exec([spelling, "/c", "echo", "%CMDCMDLINE%"])
    assert result.exit_code == 0, (
        f"{isolation}: {spelling} /c echo must run (exit {result.exit_code}: "
        f"{result.stderr.strip()})")
    outer = result.stdout.strip()
    twice = outer.lower().startswith(f"cmd /c {spelling.lower()} ")
    assert twice == WRAPPED_TWICE[isolation], (
        f"{isolation}: an exec starting with {spelling!r} must "
        f"{'' if WRAPPED_TWICE[isolation] else 'not '}be wrapped in a further cmd /c (§2.5: "
        f"the cmd check is case-insensitive on the base name; §3.3); the outer command line "
        f"was {outer!r}")
    placement.check(hpc, isolation)


# --- the init process: Args and CommandLine ---------------------------------------------------
def form_image(hpc_host, form: str) -> str:
    """An image whose process should reach the shim as ``form`` (§4.3): the probe image has
    no ArgsEscaped (Args); the pause image is the suite's ArgsEscaped candidate (CommandLine;
    :func:`require_form` skips when a host's pause image is not)."""
    return hpc_host.images.probe if form == "args" else hpc_host.images.pause


def require_form(container, form: str, image: str) -> None:
    """Skip when the runtime spec's process does not have the form under test."""
    process = container.inspect().process
    has = "commandLine" if process.get("commandLine") else "args"
    wanted = "commandLine" if form == "command-line" else "args"
    if has != wanted:
        pytest.skip(f"image {image} gives the init process {has}, not {wanted} (containerd "
                    f"sets CommandLine only for an ArgsEscaped image, §4.3)")


FORMS = [pytest.param("args", id="args"), pytest.param("command-line", id="command-line")]


@pytest.mark.reference("docs/behaviour/runtime.md §2.5")
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_bare_builtin_as_the_container_command(pods, hpc_host, isolation, placement, form,
                                               wait_for_exit):
    """A bare built-in as the container's own command runs, in both process forms.

    Pod: host_process, inherit-user.  Container: command ``echo hpc-e2e init says hello``
    (no ``cmd /c``; one argument per word, so no quotes reach echo), from an image without
    ArgsEscaped (Args) or with it (CommandLine).
    Expected: the container exits 0 and its log holds the text (§2.5: the init process is
    wrapped whether it carries CommandLine or Args).
    """
    pod = pods.run(isolation, annotations=INHERIT)
    image = form_image(hpc_host, form)
    init = pod.container(image=image, command=["echo", "hpc-e2e", "init", "says", "hello"])
    require_form(init, form, image)
    start_bare(init, isolation)
    status = wait_for_exit(init)
    assert status.exit_code == 0, (
        f"{isolation}/{form}: a bare built-in as the container command must run through the "
        f"cmd /c wrap (§2.5); it exited {status.exit_code} ({status.reason}: "
        f"{status.message})")
    assert "hpc-e2e init says hello" in init.logs(), (
        f"{isolation}/{form}: the built-in's output must reach the container log")
    placement.check(pod, isolation)


@pytest.mark.reference("docs/behaviour/runtime.md §2.5")
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_explicit_cmd_as_the_container_command(pods, hpc_host, isolation, placement, form,
                                               wait_for_exit):
    """A container command that starts with ``cmd /c`` is not wrapped twice in a UVM.

    Pod: host_process, inherit-user.  Container: command ``cmd /c echo %CMDCMDLINE%``, in
    both forms.
    Expected: exit 0; the logged outer command line is the command itself for HV-HPC (§2.5)
    and ``cmd /c cmd /c ...`` for PI-HPC on a bind-filter host (§3.3, §8 item 9).
    """
    pod = pods.run(isolation, annotations=INHERIT)
    image = form_image(hpc_host, form)
    init = pod.container(image=image, command=["cmd", "/c", "echo", "%CMDCMDLINE%"])
    require_form(init, form, image)
    init.start()
    status = wait_for_exit(init)
    log = init.logs()
    assert status.exit_code == 0, f"{isolation}/{form}: cmd /c echo must exit 0; exited " \
                                  f"{status.exit_code} ({status.message})"
    twice = log.lower().startswith(TWICE_PREFIX)
    assert twice == WRAPPED_TWICE[isolation], (
        f"{isolation}/{form}: an explicit cmd /c container command must "
        f"{'' if WRAPPED_TWICE[isolation] else 'not '}be wrapped in a second cmd /c (§2.5, "
        f"§3.3); the outer command line was {log.strip()!r}")
    placement.check(pod, isolation)


@pytest.mark.reference("docs/behaviour/runtime.md §2.5")
@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_container_exit_code_propagates(pods, isolation, placement, wait_for_exit):
    """The container's exit code is its command's, through the wrap.

    Pod: host_process, inherit-user.  Container: command ``exit 7`` (bare).
    Expected: the container exits with 7 (§2.5: the wrapping cmd ends with it).
    """
    pod = pods.run(isolation, annotations=INHERIT)
    init = pod.container(command=["exit", "7"])
    start_bare(init, isolation)
    status = wait_for_exit(init)
    assert status.exit_code == 7, (
        f"{isolation}: the container's exit code must be its command's (7) through the "
        f"cmd /c wrap (§2.5); got {status.exit_code} ({status.reason}: {status.message})")
    placement.check(pod, isolation)
