<#
.SYNOPSIS
    Write an hpc-e2e inventory in which this machine drives itself (transport = "local").

.DESCRIPTION
    A CI runner on a Windows Server host with Hyper-V runs the suite against itself: no
    WinRM, no password.  The host is named after the computer, and labelled with its OS
    build and revision (read from the registry, docs/behaviour/ecosystem.md section 4.3), the host
    group of the CI matrix and how many scenarios may share it.  The format is
    harness/config/inventory.py's.  The file is UTF-8 without a byte-order mark (TOML readers
    refuse one).  Windows PowerShell 5.1 and PowerShell 7 both run it.

    -NoRestart writes allow_restart = false: provisioning never restarts this runner (a
    hosted runner would lose the job); it works with the features the runner has.

.EXAMPLE
    .\ci\scripts\write-inventory.ps1 -OutFile out\ci-inventory.toml -Group ltsc2025

.EXAMPLE
    .\ci\scripts\write-inventory.ps1 -OutFile out\ci-inventory.toml -Group hosted-2022 -NoRestart
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)]
    [string]$OutFile,
    [string]$Group = '',
    [string]$Name = $env:COMPUTERNAME,
    [int]$MaxLeases = 1,
    [string[]]$Capability = @(),
    [switch]$NoRestart
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 1.0

# Host names and labels as harness/config/target.py accepts them.
$hostName = ($Name.ToLowerInvariant() -replace '[^a-z0-9_.-]', '-').TrimStart('-_.')
if ($hostName.Length -gt 63) {
    $hostName = $hostName.Substring(0, 63)
}
if (-not $hostName) {
    throw "-Name '$Name' leaves no usable host name (letters, digits, '.', '_', '-')"
}
if ($Group -and ($Group -notmatch '^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$')) {
    throw "-Group '$Group' is not a group name (letters, digits, '.', '_', '-')"
}
if ($MaxLeases -lt 1 -or $MaxLeases -gt 64) {
    throw "-MaxLeases $MaxLeases must be between 1 and 64"
}
foreach ($c in $Capability) {
    if ($c -notmatch '^[A-Za-z0-9][A-Za-z0-9_.-]*$') {
        throw "-Capability '$c' is not a capability name"
    }
}

$os = Get-ItemProperty -Path 'HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion'
$build = [int]$os.CurrentBuild
$ubr = [int]$os.UBR

$lines = @(
    "# Written by ci/scripts/write-inventory.ps1 on ${env:COMPUTERNAME}: this runner is the host.",
    "# $($os.ProductName), build $build.$ubr",
    '',
    "[hosts.$hostName]",
    'transport = "local"'
)
if ($NoRestart) {
    $lines += 'allow_restart = false'
}
$lines += @(
    '',
    "[hosts.$hostName.labels]",
    "os_build = $build",
    "ubr = $ubr",
    "max_leases = $MaxLeases"
)
if ($Group) {
    $lines += "group = `"$Group`""
}
if ($Capability.Count -gt 0) {
    $quoted = $Capability | ForEach-Object { "`"$_`"" }
    $lines += "capabilities = [$($quoted -join ', ')]"
}

$path = $ExecutionContext.SessionState.Path.GetUnresolvedProviderPathFromPSPath($OutFile)
New-Item -ItemType Directory -Force -Path (Split-Path -Parent $path) | Out-Null
[IO.File]::WriteAllText($path, (($lines -join "`n") + "`n"), (New-Object Text.UTF8Encoding $false))
Write-Host "wrote $path (host $hostName, build $build.$ubr$(if ($Group) { ", group $Group" }))"
