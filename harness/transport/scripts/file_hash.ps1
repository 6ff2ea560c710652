# Report a file's size and SHA-256, computed on the host, so that a transfer over another
# channel (SFTP) is verified by something other than the channel that carried it.
param(
    [Parameter(Mandatory = $true)][string]$path
)
$ErrorActionPreference = 'Stop'
$full = [IO.Path]::GetFullPath($path)
$stream = [IO.File]::Open($full, [IO.FileMode]::Open, [IO.FileAccess]::Read, [IO.FileShare]::Read)
try {
    $hash = [Security.Cryptography.SHA256]::Create().ComputeHash($stream)
    $size = $stream.Length
} finally {
    $stream.Dispose()
}
$hex = [BitConverter]::ToString($hash).Replace('-', '').ToLowerInvariant()
Write-HpcE2EResult @{ path = $full; size = $size; sha256 = $hex }
