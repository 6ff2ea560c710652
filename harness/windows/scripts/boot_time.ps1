# The host's last boot time and clock: cheap enough to poll while waiting for a restart to
# finish (a new boot time proves the host really went down and came back).
param()
$ErrorActionPreference = 'Stop'
$stamp = "yyyy-MM-dd'T'HH:mm:ss.fff'Z'"
$invariant = [Globalization.CultureInfo]::InvariantCulture
$os = Get-CimInstance -ClassName Win32_OperatingSystem
Write-HpcE2EResult ([ordered]@{
    computer_name = $env:COMPUTERNAME
    boot_time_utc = $os.LastBootUpTime.ToUniversalTime().ToString($stamp, $invariant)
    clock_utc = [DateTime]::UtcNow.ToString($stamp, $invariant)
})
