# Receive a file as base64 lines on stdin (docs/internals.md "Files over WinRM"): write a
# temporary name beside the destination, check size and SHA-256 at EOF, then rename it
# over the destination; on any failure delete the temporary file and fail.
# Size and SHA-256 come as arguments, or (when the sender hashes while it sends) on a last
# line "#hpc-e2e-end <size> <sha256>" ('#' is never part of base64).
param(
    [Parameter(Mandatory = $true)][string]$path,
    [string]$sha256 = '',
    [long]$size = -1
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
        if ($line.StartsWith('#hpc-e2e-end ')) {
            $fields = $line.Split(' ')
            if ($fields.Length -ne 3) { throw "malformed end line: $line" }
            $size = [long]$fields[1]
            $sha256 = $fields[2]
            continue
        }
        $bytes = [Convert]::FromBase64String($line)
        [void]$hasher.TransformBlock($bytes, 0, $bytes.Length, $null, 0)
        $stream.Write($bytes, 0, $bytes.Length)
        $written += $bytes.Length
    }
    [void]$hasher.TransformFinalBlock((New-Object byte[] 0), 0, 0)
    $stream.Close()
    $actual = [BitConverter]::ToString($hasher.Hash).Replace('-', '').ToLowerInvariant()
    if ($size -lt 0 -or $sha256.Length -eq 0) { throw "no size and sha256 for ${full}: neither arguments nor an end line" }
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
