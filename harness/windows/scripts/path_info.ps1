# Existence, kind, size and (with $hash) SHA-256 of many paths in one round trip, so that
# checking a deployed tree costs one command, not one per file.
param(
    [Parameter(Mandatory = $true)][string[]]$paths,
    [Parameter(Mandatory = $true)][bool]$hash
)
$ErrorActionPreference = 'Stop'
$items = New-Object Collections.ArrayList
foreach ($p in $paths) {
    $full = [IO.Path]::GetFullPath($p)
    $entry = [ordered]@{ path = $full; exists = $false; type = $null; size = $null; sha256 = $null }
    if ([IO.File]::Exists($full)) {
        $entry['exists'] = $true
        $entry['type'] = 'file'
        $stream = [IO.File]::Open($full, [IO.FileMode]::Open, [IO.FileAccess]::Read, [IO.FileShare]::Read)
        try {
            $entry['size'] = $stream.Length
            if ($hash) {
                $digest = [Security.Cryptography.SHA256]::Create().ComputeHash($stream)
                $entry['sha256'] = [BitConverter]::ToString($digest).Replace('-', '').ToLowerInvariant()
            }
        } finally {
            $stream.Dispose()
        }
    } elseif ([IO.Directory]::Exists($full)) {
        $entry['exists'] = $true
        $entry['type'] = 'directory'
    }
    [void]$items.Add($entry)
}
Write-HpcE2EResult ([ordered]@{ items = $items })
