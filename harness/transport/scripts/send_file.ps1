# Send a file to stdout as base64 lines of $chunk raw bytes, then the result line with its
# size and SHA-256 (docs/internals.md "Files over WinRM").  The caller checks the hash.
param(
    [Parameter(Mandatory = $true)][string]$path,
    [Parameter(Mandatory = $true)][int]$chunk
)
$ErrorActionPreference = 'Stop'
if ($chunk -lt 1) { throw "chunk must be at least 1 byte, not $chunk" }
$full = [IO.Path]::GetFullPath($path)
$hasher = [Security.Cryptography.SHA256]::Create()
$buffer = New-Object byte[] $chunk
$total = [long]0
# ReadWrite sharing: a file another process keeps open for writing (containerd's log) can
# still be read; FileShare.Read alone would be refused with a sharing violation.
$stream = [IO.File]::Open($full, [IO.FileMode]::Open, [IO.FileAccess]::Read, [IO.FileShare]::ReadWrite)
try {
    $out = [Console]::OpenStandardOutput()
    while ($true) {
        # Fill the buffer: a short read before EOF would shift every later line.
        $n = 0
        while ($n -lt $chunk) {
            $got = $stream.Read($buffer, $n, $chunk - $n)
            if ($got -eq 0) { break }
            $n += $got
        }
        if ($n -eq 0) { break }
        [void]$hasher.TransformBlock($buffer, 0, $n, $null, 0)
        $line = [Text.Encoding]::ASCII.GetBytes([Convert]::ToBase64String($buffer, 0, $n) + "`r`n")
        $out.Write($line, 0, $line.Length)
        $total += $n
        if ($n -lt $chunk) { break }
    }
    $out.Flush()
} finally {
    $stream.Dispose()
}
[void]$hasher.TransformFinalBlock((New-Object byte[] 0), 0, 0)
$hex = [BitConverter]::ToString($hasher.Hash).Replace('-', '').ToLowerInvariant()
Write-HpcE2EResult @{ path = $full; size = $total; sha256 = $hex }
