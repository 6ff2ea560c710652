# Delete a file, or a directory (with its contents only when $recurse); a missing path is
# not an error, the answer says whether anything was removed.
param(
    [Parameter(Mandatory = $true)][string]$path,
    [Parameter(Mandatory = $true)][bool]$recurse
)
$ErrorActionPreference = 'Stop'
$full = [IO.Path]::GetFullPath($path)
$kind = $null
if ([IO.File]::Exists($full)) {
    [IO.File]::Delete($full)
    $kind = 'file'
} elseif ([IO.Directory]::Exists($full)) {
    [IO.Directory]::Delete($full, $recurse)
    $kind = 'directory'
}
Write-HpcE2EResult ([ordered]@{ path = $full; removed = ($null -ne $kind); type = $kind })
