<#
.SYNOPSIS
    Let a Hyper-V VM run Hyper-V itself (nested virtualization), so the hpc-e2e lab VM can
    start utility VMs for hypervisor-isolated containers.

.DESCRIPTION
    Run it elevated on the Hyper-V HOST that runs the lab VM, not inside the VM
    (docs/behaviour/ecosystem.md section 4.2).  The VM must be off: with -Force the script shuts it
    down (and discards a saved state, which cannot be resumed with different processor
    settings); without, it stops and says so.  Then, checking first and changing only what
    differs:

      * Set-VMProcessor -ExposeVirtualizationExtensions $true: the VM sees VT-x/AMD-V and
        SLAT, so Install-WindowsFeature Hyper-V stops failing its prerequisite check;
      * dynamic memory off (a VM that exposes virtualization extensions cannot use it) and
        at least -MemoryStartupBytes of memory: the lab VM hosts utility VMs of its own,
        each with its own memory (hcsshim's default UVM is 1 GiB or more, and the
        hyperv handler adds overhead per pod);
      * MAC address spoofing on the VM's network adapters, so guests of the guest (the
        process-isolated pods' NAT network, nested VMs) reach the network; skip it with
        -NoMacAddressSpoofing when the lab VM needs no nested networking (HostProcess
        containers in a UVM have no network anyway).

    Host requirements: Windows Server 2016 / Windows 10 or later with Intel VT-x, or
    Windows Server 2022 / Windows 11 or later with AMD-V; VM configuration version 8.0 or
    later; virtualization-based security on the host can block nested virtualization.

.EXAMPLE
    .\enable-nested-virtualization.ps1 -VMName hpc-lab-2025 -Force -Start
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)]
    [string]$VMName,
    [long]$MemoryStartupBytes = 8589934592,  # 8 GiB
    [switch]$NoMacAddressSpoofing,
    [switch]$Force,
    [switch]$Start
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 1.0
$GiB = [long]1073741824

function Write-Ok {
    param([string]$Message)
    Write-Host "ok: $Message"
}

function Write-Change {
    param([string]$Message)
    Write-Host "changed: $Message"
}

if (-not (Get-Command -Name Set-VMProcessor -ErrorAction SilentlyContinue)) {
    throw 'the Hyper-V PowerShell module is not here: run this on the Hyper-V host that runs the VM'
}
if ($MemoryStartupBytes -lt 4 * $GiB) {
    throw '-MemoryStartupBytes must be at least 4GB: the VM runs utility VMs of its own'
}

$vm = Get-VM -Name $VMName

# The VM's configuration version decides whether nested virtualization is possible at all.
if ([version]$vm.Version -lt [version]'8.0') {
    throw ("VM $VMName has configuration version $($vm.Version); nested virtualization needs 8.0 or later " +
        "(Update-VMVersion -Name $VMName, with the VM off)")
}
$vendor = (Get-CimInstance -ClassName Win32_Processor | Select-Object -First 1).Manufacturer
$hostBuild = [int](Get-ItemProperty -Path 'HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion').CurrentBuild
if ($vendor -match 'AMD' -and $hostBuild -lt 20348) {
    Write-Warning "this host has an AMD processor and build $hostBuild; nested virtualization on AMD needs Windows Server 2022 (20348) / Windows 11 or later"
}

# --- the VM must be off ------------------------------------------------------------------------
if ($vm.State -ne 'Off') {
    if (-not $Force) {
        throw "VM $VMName is $($vm.State); turn it off (Stop-VM -Name $VMName) or pass -Force"
    }
    if ($vm.State -eq 'Saved') {
        Remove-VMSavedState -VMName $VMName
        Write-Change 'discarded the saved state'
    } else {
        Stop-VM -Name $VMName -Force
        Write-Change 'shut the VM down'
    }
    $vm = Get-VM -Name $VMName
    if ($vm.State -ne 'Off') {
        throw "VM $VMName is still $($vm.State); turn it off and run this again"
    }
}

# --- processor -----------------------------------------------------------------------------------
$processor = Get-VMProcessor -VMName $VMName
if ($processor.ExposeVirtualizationExtensions) {
    Write-Ok 'virtualization extensions are exposed to the VM'
} else {
    Set-VMProcessor -VMName $VMName -ExposeVirtualizationExtensions $true
    Write-Change 'virtualization extensions exposed to the VM'
}

# --- memory --------------------------------------------------------------------------------------
$memory = Get-VMMemory -VMName $VMName
if ($memory.DynamicMemoryEnabled) {
    Set-VMMemory -VMName $VMName -DynamicMemoryEnabled $false
    Write-Change 'dynamic memory off'
} else {
    Write-Ok 'dynamic memory is off'
}
if ($memory.Startup -lt $MemoryStartupBytes) {
    Set-VMMemory -VMName $VMName -StartupBytes $MemoryStartupBytes
    Write-Change "memory $([math]::Round($memory.Startup / $GiB, 1)) GiB -> $([math]::Round($MemoryStartupBytes / $GiB, 1)) GiB"
} else {
    Write-Ok "memory $([math]::Round($memory.Startup / $GiB, 1)) GiB"
}

# --- network -------------------------------------------------------------------------------------
if ($NoMacAddressSpoofing) {
    Write-Ok 'MAC address spoofing left as it is (-NoMacAddressSpoofing)'
} else {
    foreach ($adapter in @(Get-VMNetworkAdapter -VMName $VMName)) {
        if ($adapter.MacAddressSpoofing -eq 'On') {
            Write-Ok "MAC address spoofing is on for adapter '$($adapter.Name)'"
        } else {
            $adapter | Set-VMNetworkAdapter -MacAddressSpoofing On
            Write-Change "MAC address spoofing on for adapter '$($adapter.Name)'"
        }
    }
}

$processor = Get-VMProcessor -VMName $VMName
$memory = Get-VMMemory -VMName $VMName
Write-Host ''
Write-Host ("VM ${VMName}: ExposeVirtualizationExtensions=$($processor.ExposeVirtualizationExtensions), " +
    "DynamicMemory=$($memory.DynamicMemoryEnabled), Startup=$([math]::Round($memory.Startup / $GiB, 1)) GiB")

if ($Start) {
    Start-VM -Name $VMName
    Write-Change 'VM started'
}
Write-Host 'next, inside the VM: ci/bootstrap-lab-vm.ps1 (installs Hyper-V and Containers, restarts)'
