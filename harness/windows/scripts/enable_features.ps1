# Install Windows Server features (docs/behaviour/ecosystem.md §4.1: Install-WindowsFeature with
# -IncludeManagementTools, feature names Hyper-V and Containers) without restarting: the
# harness restarts the host itself and waits for it on the same connection.  Reports each
# feature's state before and after and whether Windows asks for a restart.  A Hyper-V
# prerequisite failure (no virtualization extensions) is a terminating error.
param(
    [Parameter(Mandatory = $true)][string[]]$names
)
$ErrorActionPreference = 'Stop'
$principal = [Security.Principal.WindowsPrincipal][Security.Principal.WindowsIdentity]::GetCurrent()
if (-not $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)) {
    throw 'The requested operation requires elevation: installing Windows features needs an elevated administrator.'
}
if (-not (Get-Command -Name Install-WindowsFeature -ErrorAction SilentlyContinue)) {
    throw 'Install-WindowsFeature is not available: this host is not Windows Server (no ServerManager module).'
}
$before = @{}
foreach ($n in $names) {
    $f = Get-WindowsFeature -Name $n
    if ($null -eq $f) { throw "this host has no Windows feature named '$n'" }
    $before[$n] = [string]$f.InstallState
}
$todo = @($names | Where-Object { $before[$_] -ne 'Installed' -and $before[$_] -ne 'InstallPending' })
$exitCode = 'NoChangeNeeded'
$restartNeeded = 'No'
if ($todo.Count -gt 0) {
    $r = Install-WindowsFeature -Name $todo -IncludeManagementTools
    $exitCode = [string]$r.ExitCode
    $restartNeeded = [string]$r.RestartNeeded
    if (-not $r.Success) { throw "Install-WindowsFeature $($todo -join ',') failed with exit code $exitCode" }
}
$features = New-Object Collections.ArrayList
foreach ($n in $names) {
    $f = Get-WindowsFeature -Name $n
    [void]$features.Add([ordered]@{ name = [string]$f.Name; before = $before[$n]; after = [string]$f.InstallState })
}
Write-HpcE2EResult ([ordered]@{ exit_code = $exitCode; restart_needed = $restartNeeded; features = $features })
