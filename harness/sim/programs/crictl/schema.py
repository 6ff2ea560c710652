"""The CRI config structs crictl decodes pod and container configs into (cri-api json tags).

Kept as data, apart from the decoder, so a cri-api version bump is an edit to one table.
"""

from __future__ import annotations

# --- the CRI config structs (cri-api v0.31 json tags, api.pb.go) -------------------------
_SCHEMA_TEXT = """
CDIDevice: name string
Capability: add_capabilities []string; drop_capabilities []string;
    add_ambient_capabilities []string
ContainerConfig: metadata *ContainerMetadata; image *ImageSpec; command []string; args
    []string; working_dir string; envs []*KeyValue; mounts []*Mount; devices []*Device;
    labels map[string]string; annotations map[string]string; log_path string; stdin bool;
    stdin_once bool; tty bool; linux *LinuxContainerConfig; windows
    *WindowsContainerConfig; CDI_devices []*CDIDevice
ContainerMetadata: name string; attempt uint32
DNSConfig: servers []string; searches []string; options []string
Device: container_path string; host_path string; permissions string
HugepageLimit: page_size string; limit uint64
IDMapping: host_id uint32; container_id uint32; length uint32
ImageSpec: image string; annotations map[string]string; user_specified_image string;
    runtime_handler string
Int64Value: value int64
KeyValue: key string; value string
LinuxContainerConfig: resources *LinuxContainerResources; security_context
    *LinuxContainerSecurityContext
LinuxContainerResources: cpu_period int64; cpu_quota int64; cpu_shares int64;
    memory_limit_in_bytes int64; oom_score_adj int64; cpuset_cpus string; cpuset_mems
    string; hugepage_limits []*HugepageLimit; unified map[string]string;
    memory_swap_limit_in_bytes int64
LinuxContainerSecurityContext: capabilities *Capability; privileged bool;
    namespace_options *NamespaceOption; selinux_options *SELinuxOption; run_as_user
    *Int64Value; run_as_group *Int64Value; run_as_username string; readonly_rootfs bool;
    supplemental_groups []int64; supplemental_groups_policy SupplementalGroupsPolicy;
    no_new_privs bool; masked_paths []string; readonly_paths []string; seccomp
    *SecurityProfile; apparmor *SecurityProfile; apparmor_profile string;
    seccomp_profile_path string
LinuxPodSandboxConfig: cgroup_parent string; security_context
    *LinuxSandboxSecurityContext; sysctls map[string]string; overhead
    *LinuxContainerResources; resources *LinuxContainerResources
LinuxSandboxSecurityContext: namespace_options *NamespaceOption; selinux_options
    *SELinuxOption; run_as_user *Int64Value; run_as_group *Int64Value; readonly_rootfs
    bool; supplemental_groups []int64; supplemental_groups_policy
    SupplementalGroupsPolicy; privileged bool; seccomp *SecurityProfile; apparmor
    *SecurityProfile; seccomp_profile_path string
Mount: container_path string; host_path string; readonly bool; selinux_relabel bool;
    propagation MountPropagation; uidMappings []*IDMapping; gidMappings []*IDMapping;
    recursive_read_only bool; image *ImageSpec
NamespaceOption: network NamespaceMode; pid NamespaceMode; ipc NamespaceMode; target_id
    string; userns_options *UserNamespace
PodSandboxConfig: metadata *PodSandboxMetadata; hostname string; log_directory string;
    dns_config *DNSConfig; port_mappings []*PortMapping; labels map[string]string;
    annotations map[string]string; linux *LinuxPodSandboxConfig; windows
    *WindowsPodSandboxConfig
PodSandboxMetadata: name string; uid string; namespace string; attempt uint32
PortMapping: protocol Protocol; container_port int32; host_port int32; host_ip string
SELinuxOption: user string; role string; type string; level string
SecurityProfile: profile_type SecurityProfile_ProfileType; localhost_ref string
UserNamespace: mode NamespaceMode; uids []*IDMapping; gids []*IDMapping
WindowsContainerConfig: resources *WindowsContainerResources; security_context
    *WindowsContainerSecurityContext
WindowsContainerResources: cpu_shares int64; cpu_count int64; cpu_maximum int64;
    memory_limit_in_bytes int64; rootfs_size_in_bytes int64
WindowsContainerSecurityContext: run_as_username string; credential_spec string;
    host_process bool
WindowsNamespaceOption: network NamespaceMode
WindowsPodSandboxConfig: security_context *WindowsSandboxSecurityContext
WindowsSandboxSecurityContext: run_as_username string; credential_spec string;
    host_process bool; namespace_options *WindowsNamespaceOption
"""
_ENUMS = {"MountPropagation", "NamespaceMode", "Protocol", "SecurityProfile_ProfileType",
          "SupplementalGroupsPolicy"}
_INT_RANGES = {"int32": (-2**31, 2**31 - 1), "int64": (-2**63, 2**63 - 1),
               "uint32": (0, 2**32 - 1), "uint64": (0, 2**64 - 1)}


def _load_schema(text: str) -> dict[str, tuple[tuple[str, str], ...]]:
    records: list[str] = []
    for line in text.strip().splitlines():
        if line.startswith(" ") and records:
            records[-1] += " " + line.strip()
        else:
            records.append(line.strip())
    schema = {}
    for rec in records:
        name, body = rec.split(":", 1)
        schema[name] = tuple(tuple(part.split()) for part in body.split(";"))  # type: ignore
    return schema  # type: ignore[return-value]


SCHEMA = _load_schema(_SCHEMA_TEXT)
