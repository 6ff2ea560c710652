"""The simulated shim's rules, row for row from the upstream tables.

Each table below is copied from docs/behaviour/runtime.md (the section
and upstream test are named on each table; row comments give the row's name or inputs), and
checked against the pure functions in ``harness.sim.cri.shim`` that the simulated runtime
uses.  The data lives here, not in the sim, so a change to the sim cannot move both sides.
"""

from __future__ import annotations

import pytest

from harness.sim.cri import shim
from harness.sim.cri.model import ProcessSpec
from harness.sim.cri.shim import (
    DISABLE_HOSTPROCESS_CONTAINER as DISABLE,
)
from harness.sim.cri.shim import (
    DISABLE_UNSAFE_OPERATIONS as UNSAFE,
)
from harness.sim.cri.shim import (
    HOSTPROCESS_CONTAINER as HPC,
)
from harness.sim.cri.shim import (
    HOSTPROCESS_INHERIT_USER as IU,
)
from harness.sim.cri.shim import (
    HOSTPROCESS_ROOTFS_LOCATION as RL,
)
from harness.sim.cri.shim import ShimError

# ---------------------------------------------------------------------------------------------
# §1.3 "Value parsing": exact "true" for hostprocess-container and inherit-user
# (internal/oci/util.go:24-26, jobcontainers/oci.go:29-31, task_hcs.go:1136)
EXACT_TRUE = [("true", True), ("True", False), ("1", False), ("TRUE", False),
              ("t", False), ("", False), (" true", False)]


@pytest.mark.parametrize("value,expected", EXACT_TRUE)
def test_hostprocess_container_is_exact_true(value, expected):
    assert shim.is_job_container({HPC: value}) is expected


@pytest.mark.parametrize("value,expected", EXACT_TRUE)
def test_inherit_user_is_exact_true(value, expected):
    assert shim.inherit_user_is_set({IU: value}) is expected


def test_missing_annotation_is_not_a_job_container():
    assert shim.is_job_container({}) is False
    assert shim.is_job_container(None) is False


# ---------------------------------------------------------------------------------------------
# §1.3 conflict matrix: internal/oci/annotations_test.go:22-115
# (unsafe, disable, hpc) -> which errors ("expansion", "generic")
CONFLICT_MATRIX = [
    # DisableUnsafeOperations-DisableHostProcessContainer
    (("true", "true", "false"), []),
    # HostProcessContainer
    (("false", "false", "true"), []),
    # All false
    (("false", "false", "false"), []),
    # DisableUnsafeOperations-DisableHostProcessContainer-HostProcessContainer
    (("true", "true", "true"), ["generic"]),
    # DisableUnsafeOperations
    (("true", "false", "false"), ["expansion"]),
    # DisableHostProcessContainer
    (("false", "true", "false"), ["expansion"]),
    # DisableUnsafeOperations-HostProcessContainer
    (("true", "false", "true"), ["expansion"]),
    # DisableHostProcessContainer-HostProcessContainer
    (("false", "true", "true"), ["expansion", "generic"]),
]


@pytest.mark.parametrize("values,errors", CONFLICT_MATRIX)
def test_process_annotations_conflict_matrix(values, errors):
    unsafe, disable, hpc = values
    annotations = {UNSAFE: unsafe, DISABLE: disable, HPC: hpc}
    if not errors:
        out = shim.process_annotations(annotations)
        assert out[HPC] == hpc
        return
    with pytest.raises(ShimError) as info:
        shim.process_annotations(annotations)
    text = info.value.message
    assert text.startswith("unable to process OCI Spec annotations: ")
    lines = text[len("unable to process OCI Spec annotations: "):].split("\n")
    kinds = ["expansion" if line.startswith("annotation expansion conflict: ") else
             "generic" if line.startswith("specified annotations conflict: ") else line
             for line in lines]
    assert kinds == errors


def test_generic_conflict_exact_text():
    # §1.3: the exact joined, wrapped text (values are whatever was in the spec)
    with pytest.raises(ShimError) as info:
        shim.process_annotations({DISABLE: "true", HPC: "true"})
    assert info.value.message == (
        'unable to process OCI Spec annotations: specified annotations conflict: host process '
        'container annotations "microsoft.com/disable-hostprocess-container" = "true" and '
        '"microsoft.com/hostprocess-container" = "true"')


def test_expansion_conflict_names_both_keys():
    with pytest.raises(ShimError) as info:
        shim.process_annotations({UNSAFE: "true", DISABLE: "false"})
    assert info.value.message == (
        'unable to process OCI Spec annotations: annotation expansion conflict: '
        '"io.microsoft.disable-unsafe-operations" = "true" and '
        '"microsoft.com/disable-hostprocess-container" = "false"')


def test_unsafe_operations_expands_to_disable_hpc():
    # §1.1: io.microsoft.disable-unsafe-operations expands to four keys, one of them
    # disable-hostprocess-container; with an HPC that is a generic conflict.
    out = shim.process_annotations({UNSAFE: "true"})
    for key in shim.ANNOTATION_EXPANSIONS[UNSAFE]:
        assert out[key] == "true"
    with pytest.raises(ShimError, match="specified annotations conflict"):
        shim.process_annotations({UNSAFE: "true", HPC: "true"})


# ParseBool leniency (§1.3, §8 item 6): the conflict check, unlike IsJobContainer, is lenient.
PARSEBOOL = [("1", "true", True), ("t", "true", True), ("True", "true", True),
             ("TRUE", "True", True), ("true", "1", True), ("yes", "true", False),
             ("true", "yes", False), ("0", "true", False), ("F", "true", False)]


@pytest.mark.parametrize("disable,hpc,conflict", PARSEBOOL)
def test_conflict_uses_parsebool(disable, hpc, conflict):
    if conflict:
        with pytest.raises(ShimError) as info:
            shim.process_annotations({DISABLE: disable, HPC: hpc})
        assert f'"{DISABLE}" = "{disable}" and "{HPC}" = "{hpc}"' in info.value.message
    else:
        shim.process_annotations({DISABLE: disable, HPC: hpc})


# ---------------------------------------------------------------------------------------------
# §2.4 ospath.Sanitize: internal/ospath/path_test.go:16-83
W = ("C:\\Windows",)
SANITIZE = [
    ("C:\\custom\\hpc", (), "C:\\custom\\hpc"),
    ("", (), None),
    ("C:\\foo\\..\\Windows", W, None),  # unsafe after Clean
    ("\\\\server\\share", (), None),
    ("C:\\Windows\\System32", W, None),
    ("C:\\Windows", W, None),
    ("C:\\windows\\System32", W, None),  # case-insensitive
    ("C:\\WindowsBackup", W, "C:\\WindowsBackup"),
    ("C:\\hpc", (), "C:\\hpc"),
    ("..\\..\\Windows\\System32", W, None),  # relative
    ("C:foo\\bar", (), None),  # drive-relative
    ("\\foo", (), None),  # rooted but not absolute
]


@pytest.mark.parametrize("path,disallowed,expected", SANITIZE)
def test_sanitize_table(path, disallowed, expected):
    if expected is None:
        with pytest.raises(ShimError) as info:
            shim.sanitize(path, disallowed)
        assert info.value.message == "unsafe path detected"
    else:
        assert shim.sanitize(path, disallowed) == expected


@pytest.mark.parametrize("path,expected", [
    ("C:/custom/hpc/", "C:\\custom\\hpc"),  # Clean turns / into \ and drops the trailing one
    ("d:\\data", "d:\\data"),  # any drive letter
    ("//server/share", None),  # UNC with forward slashes
    ("C:\\mounts\\x", None), ("C:\\EFI", None), ("c:\\sandboxmounts\\a", None),
    ("C:\\Mountsx", "C:\\Mountsx"),
    ("1:\\x", None),  # not an ASCII letter
])
def test_sanitize_uvm_disallowed_prefixes(path, expected):
    # §2.4: DisallowedUVMMountPrefixes C:\Windows, C:\mounts, C:\EFI, C:\SandboxMounts
    if expected is None:
        with pytest.raises(ShimError, match="^unsafe path detected$"):
            shim.sanitize(path, shim.DISALLOWED_UVM_MOUNT_PREFIXES)
    else:
        assert shim.sanitize(path, shim.DISALLOWED_UVM_MOUNT_PREFIXES) == expected


def test_isolated_rootfs_present_but_empty_is_unsafe():
    # §1.3 / §8 item 7: for HV-HPC a present-but-empty value is sanitised and rejected
    with pytest.raises(ShimError, match="unsafe path detected"):
        shim.isolated_rootfs_path({RL: ""})
    assert shim.isolated_rootfs_path({}) is None
    assert shim.isolated_rootfs_path({RL: "C:\\custom\\"}) == "C:\\custom"


# ---------------------------------------------------------------------------------------------
# §2.6 Test_pod_UpdateConfigForHostProcessContainer: pod_test.go:409-548
# HPC = hostprocess-container "true"; IU = inherit-user; RL = rootfs-location "C:\test".
# (pod annotations, pod isolated, container annotations, container isolated, expected)
H = {HPC: "true"}
UPDATE_CONFIG = [
    # 1 privileged container in unprivileged pod (isolated hpc)
    ({}, True, {**H}, True, {**H}),
    # 2 privileged container in privileged pod (isolated hpc)
    ({**H}, True, {**H}, True, {**H}),
    # 3 normal container in privileged pod (process hpc)
    ({**H}, False, {}, False, shim.ERR_MIXED_PROCESS_POD),
    # 4 normal container in privileged pod (isolated hpc): pod isolated, container process
    ({**H}, True, {}, False, {}),
    # 5 annotations passthrough (isolated hpc)
    ({**H, IU: "true", RL: "C:\\test"}, True, {**H}, True, {**H, IU: "true", RL: "C:\\test"}),
    # 6 annotations passthrough (process hpc)
    ({**H, IU: "true", RL: "C:\\test"}, False, {**H}, False,
     {**H, IU: "true", RL: "C:\\test"}),
    # 7 no annotation passthrough for normal containers (isolated hpc); pod not HPC
    ({IU: "true", RL: "C:\\test"}, True, {}, True, {}),
    # 8 no changes in user process for normal containers (isolated hpc)
    ({**H, IU: "true"}, True, {}, True, {}),
    # 9 set inherit user annotation to false for normal containers (isolated hpc)
    ({**H}, True, {IU: "true"}, True, {IU: "false"}),
]


@pytest.mark.parametrize("pod,pod_iso,ctr,ctr_iso,expected", UPDATE_CONFIG)
def test_update_config_for_host_process_container(pod, pod_iso, ctr, ctr_iso, expected):
    # p.host is nil in these tests (§2.6), so the capability check never fires: None.
    if isinstance(expected, str):
        with pytest.raises(ShimError) as info:
            shim.update_config_for_host_process_container(pod, pod_iso, ctr, ctr_iso, None)
        assert info.value.message == expected
        return
    before = dict(ctr)
    assert shim.update_config_for_host_process_container(pod, pod_iso, ctr, ctr_iso,
                                                         None) == expected
    assert ctr == before  # the caller's map is not changed


def test_mixing_error_text_is_todays_and_pre_fix_lacks_suffix():
    # §2.3 and §8 item 14: "... running on host" only since b07af140d
    assert shim.ERR_MIXED_PROCESS_POD.endswith("is a job container running on host")
    assert shim.ERR_MIXED_PROCESS_POD.startswith(shim.ERR_MIXED_PROCESS_POD_PRE_FIX)
    with pytest.raises(ShimError) as info:
        shim.update_config_pre_fix({**H}, True, {})
    assert info.value.message == ("cannot create a normal process isolated container if the "
                                  "pod sandbox is a job container")


def test_pod_value_overwrites_container_value():
    # §2.3 rule 2 / §8 item 3: the pod's inherit-user and rootfs-location win
    out = shim.update_config_for_host_process_container(
        {**H, IU: "false", RL: "C:\\pod"}, True, {**H, IU: "true", RL: "C:\\ctr"}, True, True)
    assert out[IU] == "false" and out[RL] == "C:\\pod"


def test_nil_maps_are_left_alone():
    # §2.3: nothing happens if either map is nil
    assert shim.update_config_for_host_process_container(None, False, None, False, None) is None
    assert shim.update_config_for_host_process_container(None, True, {**H}, True, True) == H


@pytest.mark.parametrize("supported,raises", [(False, True), (True, False), (None, False)])
def test_capability_gate(supported, raises):
    # §2.3 rule 1 / §2.7: only a CH container with a UVM that lacks the capability fails
    if raises:
        with pytest.raises(ShimError) as info:
            shim.update_config_for_host_process_container({}, True, {**H}, True, supported)
        assert info.value.message == "UVM does not support HostProcess containers"
    else:
        shim.update_config_for_host_process_container({}, True, {**H}, True, supported)
    # a normal container in the same UVM is never gated
    shim.update_config_for_host_process_container({}, True, {}, True, supported)


# ---------------------------------------------------------------------------------------------
# §2.6 Test_handleProcessArgsForIsolatedJobContainer: task_hcs_test.go:327-510
# (input, task annotations or None for a nil map, expected); P(cl=..., args=..., user=...)
def P(cl=None, args=None, user=""):
    return ProcessSpec(args=args, command_line=cl, user=user, cwd="")


SYSTEM = "NT AUTHORITY\\SYSTEM"
HANDLE_ARGS = [
    (P(cl="cmd /c dir"), {}, P(cl="cmd /c dir")),
    (P(cl="CMD /C whoami"), {}, P(cl="CMD /C whoami")),
    (P(cl="cmd.exe /c ipconfig"), {}, P(cl="cmd.exe /c ipconfig")),
    (P(cl="echo hello"), {}, P(cl="cmd /c echo hello")),
    (P(cl="CmD /c ping 127.0.0.1"), {}, P(cl="CmD /c ping 127.0.0.1")),
    (P(cl="  cmd /c echo spaced"), {}, P(cl="  cmd /c echo spaced")),
    (P(cl="   CMD /C echo spaced"), {}, P(cl="   CMD /C echo spaced")),
    (P(cl="    "), {}, P(cl="cmd /c     ")),  # whitespace only: wrapped, spaces kept
    (P(args=["echo", "hello"]), {}, P(args=["cmd", "/c", "echo", "hello"])),
    (P(args=["CMD", "/C", "echo", "hi"]), {}, P(args=["CMD", "/C", "echo", "hi"])),
    (P(args=["cmd", "/c", "type", "file.txt"]), {}, P(args=["cmd", "/c", "type", "file.txt"])),
    (P(args=["Cmd", "/c", "echo", "hi"]), {}, P(args=["Cmd", "/c", "echo", "hi"])),
    (P(args=["  CMD  ", "/C", "echo", "trimmed"]), {},
     P(args=["  CMD  ", "/C", "echo", "trimmed"])),  # trimmed comparison, not rewritten
    (P(), {}, P()),  # empty process: CL "" and Args nil
    (P(args=[]), {}, P(args=[])),  # empty slice stays the empty slice
    (P(cl="cmdkey /list"), {}, P(cl="cmd /c cmdkey /list")),
    (P(cl="cmdtool foo"), {}, P(cl="cmd /c cmdtool foo")),
    (P(args=["cmd.exe", "/c", "echo", "hi"]), {}, P(args=["cmd.exe", "/c", "echo", "hi"])),
    (P(args=["cmdkey", "/list"]), {}, P(args=["cmd", "/c", "cmdkey", "/list"])),
    (P(cl="C:\\Windows\\System32\\cmd.exe /c echo hi"), {},
     P(cl="C:\\Windows\\System32\\cmd.exe /c echo hi")),
    (P(args=["C:\\Windows\\System32\\cmd.exe", "/c", "echo", "hi"]), {},
     P(args=["C:\\Windows\\System32\\cmd.exe", "/c", "echo", "hi"])),
    (None, {}, None),  # nil process: no panic
    (P(), {IU: "true"}, P(user=SYSTEM)),
    (P(user="testUser"), {IU: "false"}, P(user="testUser")),
    (P(user="testUser"), {}, P(user="testUser")),
    (P(user="testUser"), {IU: "true"}, P(user=SYSTEM)),  # overrides
    (P(user="testUser"), {IU: "false"}, P(user="testUser")),  # listed twice upstream
    (P(user="testUser"), None, P(user="testUser")),  # nil map
]


@pytest.mark.parametrize("process,annotations,expected", HANDLE_ARGS)
def test_handle_process_args_for_isolated_job_container(process, annotations, expected):
    got = shim.handle_process_args_for_isolated_job_container(annotations, process)
    assert got == expected
    if process is not None and expected is not None:
        # an empty slice is not nil (Args [] vs nil are distinct in the Go test)
        assert (got.args is None) == (expected.args is None)


# Inferences the reference states for the wrap rule (§2.5 notes, §8 item 16).
@pytest.mark.parametrize("process,expected", [
    (P(cl='"cmd.exe" /c echo hi'), P(cl='cmd /c "cmd.exe" /c echo hi')),  # quotes kept
    (P(cl="C:/Windows/System32/CMD.EXE /c x"), P(cl="C:/Windows/System32/CMD.EXE /c x")),
    (P(cl="\u00a0cmd /c x"), P(cl="\u00a0cmd /c x")),  # NBSP is Go whitespace
    (P(cl="\x1ccmd /c x"), P(cl="cmd /c \x1ccmd /c x")),  # U+001C is not Go whitespace
    (P(args=["D:cmd.exe"]), P(args=["D:cmd.exe"])),  # volume dropped by filepath.Base
    (P(args=["C:\\tools\\cmd\\"]), P(args=["C:\\tools\\cmd\\"])),  # trailing separator
    (P(args=["cmd.com"]), P(args=["cmd", "/c", "cmd.com"])),
])
def test_wrap_rule_go_semantics(process, expected):
    assert shim.handle_process_args_for_isolated_job_container({}, process) == expected


# internal/oci/util_test.go:161-251 (the WCOW rows; LCOW is never a job container and the
# sim models WCOW only)
@pytest.mark.parametrize("annotations,job", [
    ({HPC: "true"}, True), ({HPC: "false"}, False), ({}, False)])
def test_is_job_container_util_rows(annotations, job):
    assert shim.is_job_container(annotations) is job


# ---------------------------------------------------------------------------------------------
# Go standard-library helpers the rules rest on
@pytest.mark.parametrize("pattern,name,match", [
    ("microsoft.com/*", "microsoft.com/hostprocess-inherit-user", True),
    ("microsoft.com/*", "microsoft.com/a/b", False),  # * does not cross /
    ("io.microsoft.*", "io.microsoft.container.memory.sizeinmb", True),
    ("io.microsoft.virtualmachine.*", "io.microsoft.container.x", False),
    ("microsoft.com/hostprocess-?nherit-user", "microsoft.com/hostprocess-inherit-user", True),
    ("*", "a/b", False),
    ("[a-c]x", "bx", True), ("[^a-c]x", "bx", False),
    ("a\\*b", "a*b", True), ("[", "[", False),  # bad pattern: no match
    ("microsoft.com/hostprocess-inherit-user", "microsoft.com/hostprocess-inherit-user", True),
])
def test_path_match(pattern, name, match):
    assert shim.path_match(pattern, name) is match


def test_passthrough_drops_keys_without_a_pattern():
    # §4.3 / §8 item 2: the default allowlists drop microsoft.com/* annotations
    ann = {IU: "true", RL: "C:\\x", "io.microsoft.container.memory.sizeinmb": "512"}
    assert shim.passthrough_annotations(ann, ["io.microsoft.container.*"]) == {
        "io.microsoft.container.memory.sizeinmb": "512"}
    assert shim.passthrough_annotations(ann, ["microsoft.com/*"]) == {IU: "true", RL: "C:\\x"}


@pytest.mark.parametrize("arg,escaped", [
    ("", '""'), ("plain", "plain"), ("a b", '"a b"'), ('"quote test"', '"\\"quote test\\""'),
    ("a\\b", "a\\b"), ('a\\"b', 'a\\\\\\"b'), ("dir\\ x\\", '"dir\\ x\\\\"')])
def test_go_escape_arg(arg, escaped):
    assert shim.go_escape_arg(arg) == escaped


@pytest.mark.parametrize("path,clean", [
    ("C:\\a\\..\\b", "C:\\b"), ("C:/a/./b/", "C:\\a\\b"), ("C:", "C:."), ("", "."),
    ("a/../..", ".."), ("\\\\srv\\share\\x\\..\\y", "\\\\srv\\share\\y"), ("C:\\..", "C:\\")])
def test_windows_clean(path, clean):
    assert shim.windows_clean(path) == clean


# ---------------------------------------------------------------------------------------------
# §1.4 and §3.2/§3.3: PI-HPC rootfs location, mount-point substitution, command line
@pytest.mark.parametrize("annotations,bindflt,expected", [
    ({}, True, "C:\\hpc\\"), ({RL: ""}, True, "C:\\hpc\\"),  # empty means default
    ({RL: "C:\\Windows\\x"}, True, "C:\\Windows\\x"),  # not sanitised (§8 item 7)
    ({}, False, "C:\\hpc\\cid123\\"), ({RL: "D:\\r"}, False, "D:\\r\\cid123")])
def test_job_container_rootfs_location(annotations, bindflt, expected):
    assert shim.job_container_rootfs_location("cid123", annotations, bindflt) == expected


def test_mount_point_substitution_quirk():
    # §3.2: the location minus its last character; C:\test becomes C:\tes
    assert shim.replace_with_mount_point("%CONTAINER_SANDBOX_MOUNT_POINT%\\x", "C:\\hpc\\") \
        == ("C:\\hpc\\x", True)
    assert shim.replace_with_mount_point("$env:CONTAINER_SANDBOX_MOUNT_POINT\\x", "C:\\test") \
        == ("C:\\tes\\x", True)
    assert shim.job_container_command_line("cmd /c dir", "C:\\hpc\\", True) == \
        "cmd /c cmd /c dir"  # always prefixed with the bind filter (§8 item 9)


def test_job_container_env_path_table():
    # §5.2 Test_RunContainer_JobContainer_Environment expectation
    env = shim.job_container_env(["Path=C:\\default"], ["PATH=C:\\Windows\\system32;C:\\Windows"],
                                 "C:\\hpc\\")
    assert env[1] == ("PATH=C:\\Windows\\system32;C:\\Windows;C:\\hpc\\;"
                      "C:\\WINDOWS\\System32\\WindowsPowerShell\\v1.0\\;C:\\WINDOWS\\System32\\Wbem")
    assert "CONTAINER_SANDBOX_MOUNT_POINT=C:\\hpc\\" in env


# §3.3 processToken: the user rules of a PI-HPC
def _resolve(username, *, inherit=False, groups=("jobcontainer_test",)):
    def logon(domain, user, kind):
        if kind == "service":
            return f"NT AUTHORITY\\{user.upper()}"
        raise shim.LogonFailure(1326, "The user name or password is incorrect.")
    return shim.resolve_job_container_user(
        username, "0123456789abcdef0123456789", inherit_user=inherit,
        shim_account="NT AUTHORITY\\SYSTEM",
        group_exists=lambda g: g in groups,
        create_group_user=lambda name, group: f"HOST\\{name}", logon=logon)


@pytest.mark.parametrize("username,expected", [
    ("", "failed to create user process token: empty username or group name passed"),
    ("jobcontainer_test", "HOST\\0123456789abcdef0123"),  # group -> user cid[:20]
    ("NT AUTHORITY\\Local service", "NT AUTHORITY\\LOCAL SERVICE"),  # service logon
    ("nt authority\\system", ("failed to create user process token: failed to logon user: "
                             "The user name or password is incorrect.")),  # case matters
    ("a\\b\\c", "failed to create user process token: invalid user string `a\\b\\c`"),
    ("Guest", ("failed to create user process token: failed to logon user: "
              "The user name or password is incorrect.")),
])
def test_job_container_user_rules(username, expected):
    if expected.startswith("failed"):
        with pytest.raises(ShimError) as info:
            _resolve(username)
        assert info.value.message == expected
    else:
        assert _resolve(username).account == expected


def test_inherit_user_takes_the_shims_token_and_ignores_the_name():
    assert _resolve("", inherit=True).account == "NT AUTHORITY\\SYSTEM"
