# Every fact WindowsHost.facts() reports, in one round trip.  Build and UBR come from the
# registry (docs/behaviour/ecosystem.md §4.3), feature states from Get-WindowsFeature (§4.1, Windows
# Server only), virtualization from Win32_Processor and Win32_ComputerSystem: while a
# hypervisor runs, the processor's virtualization properties read false and HypervisorPresent
# is true, so the caller needs both.  Times are UTC with milliseconds, culture-invariant.
param()
$ErrorActionPreference = 'Stop'
$stamp = "yyyy-MM-dd'T'HH:mm:ss.fff'Z'"
$invariant = [Globalization.CultureInfo]::InvariantCulture
$cv = Get-ItemProperty -LiteralPath 'HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion'
$os = Get-CimInstance -ClassName Win32_OperatingSystem
$cs = Get-CimInstance -ClassName Win32_ComputerSystem
$cpu = @(Get-CimInstance -ClassName Win32_Processor)[0]
$drive = $env:SystemDrive
$disk = Get-CimInstance -ClassName Win32_LogicalDisk -Filter "DeviceID='$drive'"
$identity = [Security.Principal.WindowsIdentity]::GetCurrent()
$principal = [Security.Principal.WindowsPrincipal]$identity
$elevated = $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)
$features = @{}
$featureError = $null
try {
    if (Get-Command -Name Get-WindowsFeature -ErrorAction SilentlyContinue) {
        foreach ($f in @(Get-WindowsFeature -Name 'Hyper-V', 'Containers')) {
            $features[[string]$f.Name] = [string]$f.InstallState
        }
    } else {
        $featureError = 'Get-WindowsFeature is not available: this host is not Windows Server'
    }
} catch {
    $featureError = $_.Exception.Message
}
Write-HpcE2EResult ([ordered]@{
    computer_name = $env:COMPUTERNAME
    caption = [string]$os.Caption
    build = [int]$cv.CurrentBuild
    ubr = [int]$cv.UBR
    edition = [string]$cv.EditionID
    display_version = [string]$cv.DisplayVersion
    features = $features
    feature_error = $featureError
    virtualization_firmware_enabled = [bool]$cpu.VirtualizationFirmwareEnabled
    vm_monitor_mode_extensions = [bool]$cpu.VMMonitorModeExtensions
    slat = [bool]$cpu.SecondLevelAddressTranslationExtensions
    hypervisor_present = [bool]$cs.HypervisorPresent
    system_drive = $drive
    free_disk_bytes = [long]$disk.FreeSpace
    disk_size_bytes = [long]$disk.Size
    elevated = [bool]$elevated
    user = $identity.Name
    ps_version = $PSVersionTable.PSVersion.ToString()
    clock_utc = [DateTime]::UtcNow.ToString($stamp, $invariant)
    boot_time_utc = $os.LastBootUpTime.ToUniversalTime().ToString($stamp, $invariant)
})
