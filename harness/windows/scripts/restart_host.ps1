# Schedule a restart $delay_seconds from now and return at once, so this answer reaches the
# harness before the host goes down.  shutdown.exe (as containerd's CI restarts its hosts,
# docs/behaviour/ecosystem.md §4.1) hands the restart to the system; a Restart-Computer started from
# here would be a process of this WinRM shell and end with it.  /t above 0 implies /f.
# Returns the boot time the restart will replace.
param(
    [Parameter(Mandatory = $true)][int]$delay_seconds
)
$ErrorActionPreference = 'Stop'
$principal = [Security.Principal.WindowsPrincipal][Security.Principal.WindowsIdentity]::GetCurrent()
if (-not $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)) {
    throw 'The requested operation requires elevation: restarting the host needs an elevated administrator.'
}
if ($delay_seconds -lt 1) { throw "delay_seconds must be at least 1, not $delay_seconds" }
$stamp = "yyyy-MM-dd'T'HH:mm:ss.fff'Z'"
$invariant = [Globalization.CultureInfo]::InvariantCulture
$os = Get-CimInstance -ClassName Win32_OperatingSystem
$boot = $os.LastBootUpTime.ToUniversalTime().ToString($stamp, $invariant)
& shutdown.exe /r /t $delay_seconds /c 'hpc-e2e: restart requested by the test harness'
if ($LASTEXITCODE -ne 0) { throw "shutdown.exe /r failed with exit code $LASTEXITCODE" }
Write-HpcE2EResult ([ordered]@{ scheduled = $true; delay_seconds = $delay_seconds; boot_time_utc = $boot })
