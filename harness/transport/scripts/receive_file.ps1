# Receive a file as base64 lines on stdin (docs/internals.md "Files over WinRM"): write a
# temporary name beside the destination, check size and SHA-256 at EOF, then rename it
# over the destination; on any failure delete the temporary file and fail.
param(
    [Parameter(Mandatory = $true)][string]$path,
    [Parameter(Mandatory = $true)][string]$sha256,
    [Parameter(Mandatory = $true)][long]$size
)
$ErrorActionPreference = 'Stop'
$full = [IO.Path]::GetFullPath($path)
$dir = [IO.Path]::GetDirectoryName($full)
if (-not [IO.Directory]::Exists($dir)) { throw "the directory $dir does not exist" }
$suffix = [Guid]::NewGuid().ToString('N').Substring(0, 8)
$tmp = "$full.$suffix.hpce2e-tmp"
$hasher = [Security.Cryptography.SHA256]::Create()
$written = [long]0
$done = $false
$stream = [IO.File]::Open($tmp, [IO.FileMode]::CreateNew, [IO.FileAccess]::Write, [IO.FileShare]::None)
try {
    while ($null -ne ($line = [Console]::In.ReadLine())) {
        $line = $line.Trim()
        if ($line.Length -eq 0) { continue }
        $bytes = [Convert]::FromBase64String($line)
        [void]$hasher.TransformBlock($bytes, 0, $bytes.Length, $null, 0)
        $stream.Write($bytes, 0, $bytes.Length)
        $written += $bytes.Length
    }
    [void]$hasher.TransformFinalBlock((New-Object byte[] 0), 0, 0)
    $stream.Close()
    $actual = [BitConverter]::ToString($hasher.Hash).Replace('-', '').ToLowerInvariant()
    if ($written -ne $size) { throw "received $written bytes for $full, expected $size" }
    if ($actual -ne $sha256) { throw "sha256 of the bytes received for $full is $actual, expected $sha256" }
    if ([IO.File]::Exists($full)) {
        [IO.File]::Replace($tmp, $full, [NullString]::Value)
    } else {
        [IO.File]::Move($tmp, $full)
    }
    $done = $true
} finally {
    $stream.Dispose()
    if (-not $done -and [IO.File]::Exists($tmp)) { [IO.File]::Delete($tmp) }
}
Write-HpcE2EResult @{ path = $full; size = $written; sha256 = $actual }
