# Create a directory and its parents; reports whether it had to be created.
param(
    [Parameter(Mandatory = $true)][string]$path
)
$ErrorActionPreference = 'Stop'
$full = [IO.Path]::GetFullPath($path)
$existed = [IO.Directory]::Exists($full)
if (-not $existed) { [void][IO.Directory]::CreateDirectory($full) }
Write-HpcE2EResult ([ordered]@{ path = $full; created = (-not $existed) })
