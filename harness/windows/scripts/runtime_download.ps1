# Download one runtime program onto this host (a bundle artifact with a url source): fetch it
# over TLS 1.2 to a temporary name, optionally extract one member of the archive with
# tar.exe, check its SHA-256, then rename it over the destination.  On any failure every
# temporary file is deleted and the destination is left as it was.
param(
    [Parameter(Mandatory = $true)][string]$url,
    [Parameter(Mandatory = $true)][string]$path,
    [Parameter(Mandatory = $true)][string]$sha256,
    [string]$member = '',
    [string]$archive_sha256 = ''
)
$ErrorActionPreference = 'Stop'
# Windows PowerShell 5.1 may default to TLS 1.0, which download hosts refuse.
[Net.ServicePointManager]::SecurityProtocol = [Net.SecurityProtocolType]::Tls12
$full = [IO.Path]::GetFullPath($path)
$dir = [IO.Path]::GetDirectoryName($full)
if (-not [IO.Directory]::Exists($dir)) { throw "the directory $dir does not exist" }
$suffix = [Guid]::NewGuid().ToString('N').Substring(0, 8)
$download = "$full.$suffix.hpce2e-download"
$extract = "$full.$suffix.hpce2e-extract"
$tmp = "$full.$suffix.hpce2e-tmp"
try {
    Invoke-WebRequest -UseBasicParsing -Uri $url -OutFile $download
    if ($member) {
        if ($archive_sha256) {
            $got = (Get-FileHash -Algorithm SHA256 -LiteralPath $download).Hash.ToLowerInvariant()
            if ($got -ne $archive_sha256) { throw "sha256 of $url is $got, expected $archive_sha256" }
        }
        [void][IO.Directory]::CreateDirectory($extract)
        & tar.exe -x -f $download -C $extract $member
        if ($LASTEXITCODE -ne 0) { throw "tar.exe could not extract $member from $url (exit code $LASTEXITCODE)" }
        [IO.File]::Move([IO.Path]::Combine($extract, $member.Replace('/', '\')), $tmp)
    } else {
        [IO.File]::Move($download, $tmp)
    }
    $actual = (Get-FileHash -Algorithm SHA256 -LiteralPath $tmp).Hash.ToLowerInvariant()
    if ($actual -ne $sha256) { throw "sha256 of the program from $url is $actual, expected $sha256" }
    if ([IO.File]::Exists($full)) {
        [IO.File]::Replace($tmp, $full, [NullString]::Value)
    } else {
        [IO.File]::Move($tmp, $full)
    }
    $size = (New-Object IO.FileInfo $full).Length
} finally {
    foreach ($leftover in @($download, $tmp)) {
        if ([IO.File]::Exists($leftover)) { [IO.File]::Delete($leftover) }
    }
    if ([IO.Directory]::Exists($extract)) { [IO.Directory]::Delete($extract, $true) }
}
Write-HpcE2EResult @{ path = $full; size = $size; sha256 = $actual }
