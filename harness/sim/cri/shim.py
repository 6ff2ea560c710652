"""hcsshim's HostProcess rules (and the containerd helpers that feed them) as pure functions.

Every function here reproduces one piece of upstream code named in
docs/behaviour/runtime.md (cited by section), including the Go
standard-library semantics it leans on (``strings.Fields``, Windows ``filepath.Base`` /
``filepath.Clean``, ``strconv.ParseBool``, ``path.Match``, ``syscall.EscapeArg``): the
simulated runtime is only as faithful as these, and ``tests/test_sim_shim_tables.py`` checks
them row for row against the upstream test tables.  They take and return plain values
(annotation dicts, :class:`~harness.sim.cri.model.ProcessSpec`) and raise
:class:`ShimError` with the shim's exact text; deciding *when* they run is
:mod:`harness.sim.cri.runtime`'s job (and a flavor's, :mod:`harness.sim.cri.flavors`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping

from harness.sim.cri.model import ProcessSpec

# --- annotation keys (pkg/annotations/annotations.go; §1.1) ------------------------------
HOSTPROCESS_CONTAINER = "microsoft.com/hostprocess-container"
HOSTPROCESS_INHERIT_USER = "microsoft.com/hostprocess-inherit-user"
HOSTPROCESS_ROOTFS_LOCATION = "microsoft.com/hostprocess-rootfs-location"
DISABLE_HOSTPROCESS_CONTAINER = "microsoft.com/disable-hostprocess-container"
DISABLE_UNSAFE_OPERATIONS = "io.microsoft.disable-unsafe-operations"
WCOW_DISABLE_GMSA = "io.microsoft.container.wcow.gmsa.disable"
DISABLE_WRITABLE_FILE_SHARES = "io.microsoft.virtualmachine.fileshares.disablewritable"
VSMB_NO_DIRECT_MAP = "io.microsoft.virtualmachine.wcow.virtualSMB.nodirectmap"
CONTAINER_TYPE = "io.kubernetes.cri.container-type"
SANDBOX_ID = "io.kubernetes.cri.sandbox-id"

# AnnotationExpansionMap (annotations.go:594-603): the order of the list is the order the
# shim checks and writes the targets in.
ANNOTATION_EXPANSIONS: dict[str, tuple[str, ...]] = {
    DISABLE_UNSAFE_OPERATIONS: (WCOW_DISABLE_GMSA, DISABLE_WRITABLE_FILE_SHARES,
                                VSMB_NO_DIRECT_MAP, DISABLE_HOSTPROCESS_CONTAINER),
}

NT_AUTHORITY_SYSTEM = "NT AUTHORITY\\SYSTEM"
# ospath.DisallowedUVMMountPrefixes (internal/ospath/path.go:15-20; §2.4).
DISALLOWED_UVM_MOUNT_PREFIXES = ("C:\\Windows", "C:\\mounts", "C:\\EFI", "C:\\SandboxMounts")
# internal/jobcontainers/storage.go:21,26 (§1.4).
DEFAULT_SILO_ROOTFS_LOCATION = "C:\\hpc\\"
FALLBACK_ROOTFS_FORMAT = "C:\\hpc\\{}\\"
SANDBOX_MOUNT_POINT_ENV = "CONTAINER_SANDBOX_MOUNT_POINT"
# jobcontainer.go:294-309 (§3.2).
JOB_PATH_EXTRA = ";C:\\WINDOWS\\System32\\WindowsPowerShell\\v1.0\\;C:\\WINDOWS\\System32\\Wbem"
USER_NAME_CHAR_LIMIT = 20  # winapi.UserNameCharLimit (§3.3)

# Exact texts (§2.3, §2.4, §3.3, §8.14).
ERR_UVM_NO_HPC = "UVM does not support HostProcess containers"
ERR_MIXED_PROCESS_POD = ("cannot create a normal process isolated container if the pod "
                         "sandbox is a job container running on host")
ERR_MIXED_PROCESS_POD_PRE_FIX = ("cannot create a normal process isolated container if the "
                                 "pod sandbox is a job container")
ERR_UNSAFE_PATH = "unsafe path detected"
ERR_EMPTY_USER = "empty username or group name passed"


class ShimError(Exception):
    """The shim refused; ``str()`` is its exact error text (no containerd wrapping)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


# --- Go standard library semantics ---------------------------------------------------------
# unicode.IsSpace: Latin-1 spaces plus the Unicode White_Space property.  Python's
# str.isspace() also counts U+001C..U+001F, which Go does not, hence the explicit set.
_GO_SPACE = frozenset("\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
                      "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")


def go_fields(s: str) -> list[str]:
    """``strings.Fields``: split around runs of Go whitespace (§8 item 16)."""
    out: list[str] = []
    word: list[str] = []
    for ch in s:
        if ch in _GO_SPACE:
            if word:
                out.append("".join(word))
                word = []
        else:
            word.append(ch)
    if word:
        out.append("".join(word))
    return out


def go_trim_space(s: str) -> str:
    """``strings.TrimSpace`` with Go's notion of whitespace."""
    start, end = 0, len(s)
    while start < end and s[start] in _GO_SPACE:
        start += 1
    while end > start and s[end - 1] in _GO_SPACE:
        end -= 1
    return s[start:end]


def parse_bool(value: str) -> bool:
    """``strconv.ParseBool``; ValueError for anything else (§1.3: the lenient check)."""
    if value in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if value in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise ValueError(f'strconv.ParseBool: parsing "{value}": invalid syntax')


def _is_sep(c: str) -> bool:
    return c in "\\/"


def _unc_len(path: str, prefix_len: int) -> int:
    count = 0
    for i in range(prefix_len, len(path)):
        if _is_sep(path[i]):
            count += 1
            if count == 2:
                return i
    return len(path)


def windows_volume_name_len(path: str) -> int:
    """Length of the volume part, as Go's ``filepath.VolumeName`` on Windows finds it."""
    if len(path) >= 2 and path[1] == ":":
        return 2
    if not path or not _is_sep(path[0]):
        return 0
    low = path.lower().replace("/", "\\")
    if low.startswith("\\\\.\\unc") and (len(path) == 7 or _is_sep(path[7])):
        return _unc_len(path, len("\\\\.\\UNC\\"))
    if low.startswith(("\\\\.", "\\\\?", "\\??")) and (len(path) == 3 or _is_sep(path[3])):
        if len(path) == 3:
            return 3
        rest = path[4:]
        for i, c in enumerate(rest):
            if _is_sep(c):
                return 4 + i
        return len(path)
    if len(path) >= 2 and _is_sep(path[1]):
        return _unc_len(path, 2)
    return 0


def windows_base(path: str) -> str:
    """``filepath.Base`` on Windows: both separators, volume dropped (§2.5 notes)."""
    if path == "":
        return "."
    while path and _is_sep(path[-1]):
        path = path[:-1]
    path = path[windows_volume_name_len(path):]
    i = len(path) - 1
    while i >= 0 and not _is_sep(path[i]):
        i -= 1
    if i >= 0:
        path = path[i + 1:]
    return path if path else "\\"


def windows_clean(path: str) -> str:
    """``filepath.Clean`` on Windows: lexical ``.``/``..`` removal, ``/`` becomes ``\\``,
    no trailing separator (§2.4)."""
    original = path
    vol_len = windows_volume_name_len(path)
    vol, path = original[:vol_len], original[vol_len:]
    if path == "":
        if vol_len > 1 and _is_sep(original[0]) and _is_sep(original[1]):
            return original.replace("/", "\\")  # a UNC volume alone stays as it is
        return original + "."
    rooted = _is_sep(path[0])
    n = len(path)
    out: list[str] = []
    r = dotdot = 0
    if rooted:
        out.append("\\")
        r = dotdot = 1
    while r < n:
        if _is_sep(path[r]) or path[r] == "." and (r + 1 == n or _is_sep(path[r + 1])):
            r += 1
        elif path[r] == "." and path[r + 1] == "." and (r + 2 == n or _is_sep(path[r + 2])):
            r += 2
            if len(out) > dotdot:
                out.pop()
                while len(out) > dotdot and out[-1] != "\\":
                    out.pop()
            elif not rooted:
                if out:
                    out.append("\\")
                out.extend("..")
                dotdot = len(out)
        else:
            if (rooted and len(out) != 1) or (not rooted and len(out) != 0):
                out.append("\\")
            while r < n and not _is_sep(path[r]):
                out.append(path[r])
                r += 1
    if not out:
        out.append(".")
    cleaned = "".join(out)
    if vol_len == 0 and cleaned != path:
        # postClean: never let cleaning turn a relative path into a volume path.
        head = cleaned.split("\\", 1)[0]
        if ":" in head:
            cleaned = ".\\" + cleaned
        elif cleaned.startswith("\\??"):
            cleaned = "\\." + cleaned
    return (vol + cleaned).replace("/", "\\")


def path_match(pattern: str, name: str) -> bool:
    """``path.Match`` with its error ignored, as containerd calls it: ``*`` and ``?`` never
    match ``/`` (§4.3, ``internal/cri/util/util.go``)."""
    try:
        return _match(pattern, name)
    except _BadPattern:
        return False


class _BadPattern(Exception):
    pass


def _scan_chunk(pattern: str) -> tuple[bool, str, str]:
    star = False
    while pattern and pattern[0] == "*":
        pattern = pattern[1:]
        star = True
    inrange = False
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            if i + 1 < len(pattern):
                i += 1
        elif c == "[":
            inrange = True
        elif c == "]":
            inrange = False
        elif c == "*" and not inrange:
            break
        i += 1
    return star, pattern[:i], pattern[i:]


def _get_esc(chunk: str) -> tuple[str, str]:
    if not chunk or chunk[0] in "-]":
        raise _BadPattern
    if chunk[0] == "\\":
        chunk = chunk[1:]
        if not chunk:
            raise _BadPattern
    r, rest = chunk[0], chunk[1:]
    if not rest:
        raise _BadPattern
    return r, rest


def _match_chunk(chunk: str, s: str) -> tuple[str, bool]:
    failed = False
    while chunk:
        if not failed and not s:
            failed = True
        c = chunk[0]
        if c == "[":
            r = ""
            if not failed:
                r, s = s[0], s[1:]
            chunk = chunk[1:]
            negated = False
            if chunk and chunk[0] == "^":
                negated, chunk = True, chunk[1:]
            match = False
            nrange = 0
            while True:
                if chunk and chunk[0] == "]" and nrange > 0:
                    chunk = chunk[1:]
                    break
                lo, chunk = _get_esc(chunk)
                hi = lo
                if chunk[0] == "-":
                    hi, chunk = _get_esc(chunk[1:])
                if not failed and lo <= r <= hi:
                    match = True
                nrange += 1
            if match == negated:
                failed = True
        elif c == "?":
            if not failed:
                if s[0] == "/":
                    failed = True
                s = s[1:]
            chunk = chunk[1:]
        else:
            if c == "\\":
                chunk = chunk[1:]
                if not chunk:
                    raise _BadPattern
            if not failed:
                if chunk[0] != s[0]:
                    failed = True
                s = s[1:]
            chunk = chunk[1:]
    if failed:
        return "", False
    return s, True


def _match(pattern: str, name: str) -> bool:
    while pattern:
        star, chunk, pattern = _scan_chunk(pattern)
        if star and chunk == "":
            return "/" not in name
        t, ok = _match_chunk(chunk, name)
        if ok and (len(t) == 0 or len(pattern) > 0):
            name = t
            continue
        if star:
            matched = False
            i = 0
            while i < len(name) and name[i] != "/":
                t, ok = _match_chunk(chunk, name[i + 1:])
                if ok:
                    if len(pattern) == 0 and len(t) > 0:
                        i += 1
                        continue
                    name = t
                    matched = True
                    break
                i += 1
            if matched:
                continue
        while pattern:  # the rest of the pattern must still be well formed
            _, chunk, pattern = _scan_chunk(pattern)
            _match_chunk(chunk, "")
        return False
    return len(name) == 0


def go_escape_arg(arg: str) -> str:
    """``syscall.EscapeArg``: how Go (and so hcsshim's ``escapeArgs``) quotes one argument."""
    if arg == "":
        return '""'
    has_space = any(c in " \t" for c in arg)
    if not has_space and '"' not in arg and "\\" not in arg:
        return arg
    out: list[str] = ['"'] if has_space else []
    slashes = 0
    for c in arg:
        if c == "\\":
            slashes += 1
            out.append(c)
        elif c == '"':
            out.append("\\" * slashes + '\\"')
            slashes = 0
        else:
            slashes = 0
            out.append(c)
    if has_space:
        out.append("\\" * slashes + '"')
    return "".join(out)


def escape_args(args: Iterable[str]) -> str:
    """hcsshim ``internal/cmd`` escapeArgs: EscapeArg each, joined by spaces (§2.5)."""
    return " ".join(go_escape_arg(a) for a in args)


def effective_command_line(process: ProcessSpec) -> str:
    """What reaches HCS/GCS: CommandLine as-is when set, else escapeArgs(Args) (§2.5,
    ``internal/cmd/cmd.go:178-194``)."""
    if process.command_line:
        return process.command_line
    return escape_args(process.args or [])


# --- containerd CRI helpers (§4.3) ---------------------------------------------------------
def passthrough_annotations(annotations: Mapping[str, str] | None,
                            patterns: Iterable[str]) -> dict[str, str]:
    """``getPassthroughAnnotations``: keys matching any allowlist pattern (path.Match)."""
    patterns = list(patterns)
    return {k: v for k, v in (annotations or {}).items()
            if any(path_match(p, k) for p in patterns)}


# --- annotations (§1.3) ---------------------------------------------------------------------
def is_job_container(annotations: Mapping[str, str] | None) -> bool:
    """``oci.IsJobContainer`` for a WCOW spec: the value must be exactly ``"true"``."""
    return (annotations or {}).get(HOSTPROCESS_CONTAINER) == "true"


def inherit_user_is_set(annotations: Mapping[str, str] | None) -> bool:
    """Exactly ``"true"`` (jobcontainers/oci.go:29-31, task_hcs.go:1136)."""
    return (annotations or {}).get(HOSTPROCESS_INHERIT_USER) == "true"


def _parse_annotation_bool(annotations: Mapping[str, str], key: str) -> bool:
    """``ParseAnnotationsBool(..., false)``: lenient, and false when unparsable."""
    if key in annotations:
        try:
            return parse_bool(annotations[key])
        except ValueError:
            return False
    return False


def process_annotations(annotations: Mapping[str, str]) -> dict[str, str]:
    """``oci.ProcessAnnotations`` as the shim runs it on every task create (§1.3, §2.1).

    Returns the expanded annotations or raises :class:`ShimError` with the wrapped,
    ``errors.Join``-ed text the shim returns.
    """
    out = dict(annotations)
    errs: list[str] = []
    for key, targets in ANNOTATION_EXPANSIONS.items():
        if key not in out:
            continue
        val = out[key]
        for target in targets:
            if target in out and out[target] != val:
                errs.append(f'annotation expansion conflict: "{key}" = "{val}" and '
                            f'"{target}" = "{out[target]}"')
                continue
            out[target] = val
    if _parse_annotation_bool(out, DISABLE_HOSTPROCESS_CONTAINER) and \
            _parse_annotation_bool(out, HOSTPROCESS_CONTAINER):
        errs.append('specified annotations conflict: host process container annotations '
                    f'"{DISABLE_HOSTPROCESS_CONTAINER}" = "{out[DISABLE_HOSTPROCESS_CONTAINER]}" '
                    f'and "{HOSTPROCESS_CONTAINER}" = "{out[HOSTPROCESS_CONTAINER]}"')
    if errs:
        # errors.Join separates with newlines; service_internal.go wraps with errors.Wrap.
        raise ShimError("unable to process OCI Spec annotations: " + "\n".join(errs))
    return out


def merge_default_annotations(annotations: Mapping[str, str],
                              options: Mapping[str, object]) -> dict[str, str]:
    """``UpdateSpecFromOptions``: shim options fill annotations that are not set (§1.3)."""
    out = dict(annotations)
    for opt, key in (("VmProcessorCount",
                      "io.microsoft.virtualmachine.computetopology.processor.count"),
                     ("VmMemorySizeInMb",
                      "io.microsoft.virtualmachine.computetopology.memory.sizeinmb")):
        value = options.get(opt)
        if value and key not in out:
            out[key] = str(int(value))
    defaults = options.get("DefaultContainerAnnotations") or {}
    if isinstance(defaults, Mapping):
        for key, value in defaults.items():
            out.setdefault(str(key), str(value))
    return out


# --- pod.CreateTask (§2.3) -------------------------------------------------------------------
def update_config_for_host_process_container(
        pod_annotations: Mapping[str, str] | None, pod_isolated: bool,
        container_annotations: Mapping[str, str] | None, container_isolated: bool,
        uvm_supports_hpc: bool | None) -> dict[str, str] | None:
    """``updateConfigForHostProcessContainer``; returns the container's new annotations.

    ``uvm_supports_hpc`` is None when the pod has no UVM (``p.host == nil``).  A None
    container map stays None (the Go nil map).
    """
    ps = is_job_container(pod_annotations) and not pod_isolated
    cp = is_job_container(container_annotations) and not container_isolated
    ch = is_job_container(container_annotations) and container_isolated
    out = None if container_annotations is None else dict(container_annotations)
    if ch and uvm_supports_hpc is not None and not uvm_supports_hpc:
        raise ShimError(ERR_UVM_NO_HPC)
    if ps or ch:
        if ps and not cp:
            raise ShimError(ERR_MIXED_PROCESS_POD)
        _sandbox_passthrough(pod_annotations, out)
    if not is_job_container(out) and out is not None and out.get(HOSTPROCESS_INHERIT_USER, ""):
        out[HOSTPROCESS_INHERIT_USER] = "false"
    return out


def update_config_pre_fix(pod_annotations: Mapping[str, str] | None, pod_job_container: bool,
                          container_annotations: Mapping[str, str] | None
                          ) -> dict[str, str] | None:
    """``pod.CreateTask`` before b07af140d (§2.3, §8.14): only a process-isolated HPC pod
    (``p.jobContainer``) checks and passes through; nothing else changes."""
    out = None if container_annotations is None else dict(container_annotations)
    if pod_job_container:
        if not is_job_container(out):
            raise ShimError(ERR_MIXED_PROCESS_POD_PRE_FIX)
        _sandbox_passthrough(pod_annotations, out)
    return out


def _sandbox_passthrough(pod: Mapping[str, str] | None, ctr: dict[str, str] | None) -> None:
    """``oci.SandboxAnnotationsPassThrough``: the pod's value overwrites (§2.3)."""
    if pod is None or ctr is None:
        return
    for key in (HOSTPROCESS_INHERIT_USER, HOSTPROCESS_ROOTFS_LOCATION):
        if key in pod:
            ctr[key] = pod[key]


# --- task_hcs.go (§2.5) ----------------------------------------------------------------------
def handle_process_args_for_isolated_job_container(
        task_annotations: Mapping[str, str] | None,
        process: ProcessSpec | None) -> ProcessSpec | None:
    """``handleProcessArgsForIsolatedJobContainer``: the ``cmd /c`` wrap and the SYSTEM user.

    Returns a new ProcessSpec (the input is not changed); None stays None.
    """
    if process is None:
        return None
    p = dataclasses.replace(process, args=None if process.args is None else list(process.args))
    if p.command_line:
        fields = go_fields(p.command_line)
        base = windows_base(fields[0]).lower() if fields else ""
        if base not in ("cmd", "cmd.exe"):
            p.command_line = "cmd /c " + p.command_line
    elif p.args:
        base = windows_base(go_trim_space(p.args[0])).lower()
        if base not in ("cmd", "cmd.exe"):
            p.args = ["cmd", "/c", *p.args]
    if task_annotations is not None and \
            task_annotations.get(HOSTPROCESS_INHERIT_USER) == "true":
        p.user = NT_AUTHORITY_SYSTEM
    return p


# --- hcsdoc_wcow.go / ospath (§2.4) -----------------------------------------------------------
def sanitize(path: str, disallowed: Iterable[str] = ()) -> str:
    """``ospath.Sanitize``: the cleaned absolute path, or ShimError("unsafe path detected")."""
    if path == "":
        raise ShimError(ERR_UNSAFE_PATH)
    clean = windows_clean(path)
    if clean.startswith(("\\\\", "//")):
        raise ShimError(ERR_UNSAFE_PATH)
    if len(clean) < 3 or clean[1] != ":" or clean[2] not in "\\/" or \
            not ("a" <= clean[0] <= "z" or "A" <= clean[0] <= "Z"):
        raise ShimError(ERR_UNSAFE_PATH)
    lower = clean.lower()
    for prefix in disallowed:
        lp = windows_clean(prefix).lower()
        if lower == lp or lower.startswith((lp + "\\", lp + "/")):
            raise ShimError(ERR_UNSAFE_PATH)
    return clean


def isolated_rootfs_path(annotations: Mapping[str, str]) -> str | None:
    """``Storage.PrivilegedContainerRootPath`` for an HV-HPC: sanitised when the key is
    present (even empty), None when absent (the guest picks its default; §1.4, §8 item 7)."""
    if HOSTPROCESS_ROOTFS_LOCATION not in annotations:
        return None
    return sanitize(annotations[HOSTPROCESS_ROOTFS_LOCATION], DISALLOWED_UVM_MOUNT_PREFIXES)


# --- internal/jobcontainers (§3) ----------------------------------------------------------------
def job_container_rootfs_location(container_id: str, annotations: Mapping[str, str],
                                  bind_filter: bool) -> str:
    """Where a PI-HPC's rootfs appears (§1.4): not sanitised; "" means the default."""
    custom = annotations.get(HOSTPROCESS_ROOTFS_LOCATION, "")
    if bind_filter:
        return custom or DEFAULT_SILO_ROOTFS_LOCATION
    if custom:
        return windows_clean(custom + "\\" + container_id)  # filepath.Join(loc, id)
    return FALLBACK_ROOTFS_FORMAT.format(container_id)


def replace_with_mount_point(text: str, rootfs_location: str) -> tuple[str, bool]:
    """``replaceWithMountPoint``: both spellings become the location minus its last
    character (§3.2, including the ``C:\\test`` -> ``C:\\tes`` quirk)."""
    mount = rootfs_location[:-1]
    new = text.replace(f"%{SANDBOX_MOUNT_POINT_ENV}%", mount)
    new = new.replace(f"$env:{SANDBOX_MOUNT_POINT_ENV}", mount)
    return new, new != text


def job_container_working_dir(requested: str, rootfs_location: str, bind_filter: bool) -> str:
    """The working directory ``CreateProcess`` uses (§3.3)."""
    if not requested:
        return rootfs_location
    work, changed = replace_with_mount_point(requested, rootfs_location)
    if not changed and not bind_filter:
        if len(work) == 2 and work[1] == ":":
            work = "\\"
        elif len(work) > 2 and work[1] == ":":
            work = work[2:]
        work = windows_clean(rootfs_location + "\\" + work)
    return work


def job_container_command_line(command_line: str, rootfs_location: str,
                               bind_filter: bool) -> str:
    """Mount-point substitution, then ``cmd /c `` always with the bind filter (§3.3)."""
    line, _ = replace_with_mount_point(command_line, rootfs_location)
    return "cmd /c " + line if bind_filter else line


def job_container_env(default_block: Iterable[str], spec_env: Iterable[str],
                      rootfs_location: str) -> list[str]:
    """The environment of a PI-HPC process (§3.2): the token's profile block, the spec's
    entries (mount point substituted), ``CONTAINER_SANDBOX_MOUNT_POINT``, and every ``PATH=``
    entry extended with the rootfs and PowerShell/Wbem."""
    env = list(default_block)
    for entry in spec_env:
        name, sep, value = entry.partition("=")
        if not sep:
            continue
        env.append(f"{name}={replace_with_mount_point(value, rootfs_location)[0]}")
    env.append(f"{SANDBOX_MOUNT_POINT_ENV}={rootfs_location}")
    for i, entry in enumerate(env):
        ev = go_trim_space(entry)
        if ev.lower().startswith("path="):
            loc = rootfs_location if ev.endswith(";") else ";" + rootfs_location
            env[i] = ev + loc + JOB_PATH_EXTRA
    return env


class LogonFailure(Exception):
    """``LogonUser`` failed: ``text`` is the Win32 message."""

    def __init__(self, code: int, text: str):
        super().__init__(text)
        self.code = code
        self.text = text


@dataclasses.dataclass(frozen=True)
class JobUser:
    """The token a PI-HPC's processes run with (§3.3)."""

    account: str
    """Qualified account name (``NT AUTHORITY\\SYSTEM``, ``SIMHOST\\<cid[:20]>``)."""
    temporary_user: str | None = None
    """The local user created for a group, deleted with the container."""
    group: str | None = None


def resolve_job_container_user(
        username: str, container_id: str, *, inherit_user: bool, shim_account: str,
        group_exists: Callable[[str], bool],
        create_group_user: Callable[[str, str], str],
        logon: Callable[[str, str, str], str]) -> JobUser:
    """The token of a PI-HPC init process (``CreateProcess`` / ``processToken``, §3.3).

    ``create_group_user(name, group)`` makes the temporary local account and returns its
    qualified name; ``logon(domain, user, logon_type)`` returns the qualified account or
    raises :class:`LogonFailure`.  Errors are :class:`ShimError` with the shim's text.
    """
    if inherit_user:
        return JobUser(shim_account)
    prefix = "failed to create user process token: "
    if username == "":
        raise ShimError(prefix + ERR_EMPTY_USER)
    if group_exists(username):
        name = container_id[:USER_NAME_CHAR_LIMIT]
        try:
            account = create_group_user(name, username)
        except LogonFailure as exc:
            raise ShimError(prefix + "failed to create local account for container: "
                            + exc.text) from None
        return JobUser(account, temporary_user=name, group=username)
    parts = username.split("\\")
    if len(parts) == 2:
        domain, user = parts
    elif len(parts) == 1:
        domain, user = "", parts[0]
    else:
        raise ShimError(prefix + f"invalid user string `{username}`")
    # Only the exact spelling "NT AUTHORITY" gets a service logon (logon.go; §8 item 11).
    logon_type = "service" if domain == "NT AUTHORITY" else "interactive"
    try:
        return JobUser(logon(domain, user, logon_type))
    except LogonFailure as exc:
        raise ShimError(prefix + "failed to logon user: " + exc.text) from None


__all__ = [name for name in dir() if not name.startswith("_")]
