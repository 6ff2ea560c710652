<#
.SYNOPSIS
    Write a runtime bundle manifest (hpc-e2e provision --bundle) for the host this runs on.

.DESCRIPTION
    Downloads the containerd and crictl release archives for Windows (or takes archives
    given with -ContainerdArchive / -CrictlArchive), checks them against the checksums the
    projects publish beside them, and writes a manifest in the format of
    harness/runtime/bundle.py: every artifact a `file` source (the harness copies it into
    place), `sha256` the hash of the program as installed, `member` its path inside the
    archive and `archive_sha256` the archive's hash.

    The shim, in order of preference:
      -ShimPath  a built containerd-shim-runhcs-v1.exe (ci/scripts/build-shim.ps1);
      -ShimUrl   a prebuilt one, downloaded here (https only);
      neither    the shim in the containerd archive (bin/containerd-shim-runhcs-v1.exe).
    Its version is what `containerd-shim-runhcs-v1.exe --version` prints, or -ShimVersion,
    or 0.0.0+sha.<hash> for a build that states none.

    Paths inside the manifest's folder are written relative to it, so the folder can be
    moved.  The file is UTF-8 without a byte-order mark (TOML readers refuse one).
    Windows PowerShell 5.1 and PowerShell 7 both run it; tar.exe ships with Windows
    Server 2019 and later.

.EXAMPLE
    .\ci\scripts\write-bundle.ps1 -ContainerdVersion 1.7.22 -CrictlVersion 1.31.1 `
        -ShimPath out\shim\containerd-shim-runhcs-v1.exe -OutFile out\bundle.toml
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)]
    [string]$OutFile,
    [string]$ContainerdVersion = '1.7.22',
    [string]$CrictlVersion = '1.31.1',
    [string]$ShimPath = '',
    [string]$ShimUrl = '',
    [string]$ShimVersion = '',
    [string]$ContainerdArchive = '',
    [string]$CrictlArchive = '',
    [string]$DownloadDir = '',
    [string]$Name = ''
)

$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'  # Invoke-WebRequest is many times slower with it
Set-StrictMode -Version 1.0
[Net.ServicePointManager]::SecurityProtocol = [Net.ServicePointManager]::SecurityProtocol -bor [Net.SecurityProtocolType]::Tls12

$VersionPattern = '^v?(\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?)$'

function Resolve-FullPath {
    param([Parameter(Mandatory = $true)][string]$Path)
    return $ExecutionContext.SessionState.Path.GetUnresolvedProviderPathFromPSPath($Path)
}

function Get-Sha256 {
    param([Parameter(Mandatory = $true)][string]$Path)
    return (Get-FileHash -LiteralPath $Path -Algorithm SHA256).Hash.ToLowerInvariant()
}

function Get-Download {
    param(
        [Parameter(Mandatory = $true)][string]$Url,
        [Parameter(Mandatory = $true)][string]$Path
    )
    if (-not $Url.StartsWith('https://')) {
        throw "$Url is not an https:// URL"
    }
    $partial = "$Path.partial"
    Write-Host "downloading $Url"
    Invoke-WebRequest -UseBasicParsing -Uri $Url -OutFile $partial
    Move-Item -LiteralPath $partial -Destination $Path -Force
}

# The first word of a published checksum file ("<hex>  <file name>").
function Get-PublishedSha256 {
    param([Parameter(Mandatory = $true)][string]$Url)
    $text = (Invoke-WebRequest -UseBasicParsing -Uri $Url).Content
    if ($text -is [byte[]]) {
        $text = [Text.Encoding]::ASCII.GetString($text)
    }
    $word = ($text.Trim() -split '\s+')[0].ToLowerInvariant()
    if ($word -notmatch '^[0-9a-f]{64}$') {
        throw "$Url does not hold a SHA-256 (starts with '$word')"
    }
    return $word
}

# A release archive: downloaded (once; a cached copy with the right hash is reused) and
# checked against the checksum published beside it.
function Get-ReleaseArchive {
    param(
        [Parameter(Mandatory = $true)][string]$Url,
        [Parameter(Mandatory = $true)][string]$ChecksumUrl,
        [Parameter(Mandatory = $true)][string]$Directory
    )
    $path = Join-Path $Directory ([IO.Path]::GetFileName($Url))
    $expected = Get-PublishedSha256 $ChecksumUrl
    if ((Test-Path -LiteralPath $path) -and ((Get-Sha256 $path) -eq $expected)) {
        Write-Host "using the downloaded $path"
        return $path
    }
    Get-Download -Url $Url -Path $path
    $actual = Get-Sha256 $path
    if ($actual -ne $expected) {
        Remove-Item -LiteralPath $path -Force
        throw "$Url has sha256 $actual but $ChecksumUrl says $expected"
    }
    return $path
}

# The SHA-256 of one archive member, extracted to a temporary folder with tar.exe (and
# copied to -KeepIn, to run it).
function Get-MemberSha256 {
    param(
        [Parameter(Mandatory = $true)][string]$Archive,
        [Parameter(Mandatory = $true)][string]$Member,
        [string]$KeepIn = ''
    )
    $temp = Join-Path ([IO.Path]::GetTempPath()) ('hpc-e2e-bundle-' + [Guid]::NewGuid().ToString('N'))
    New-Item -ItemType Directory -Path $temp | Out-Null
    try {
        & tar.exe -xzf $Archive -C $temp $Member
        if ($LASTEXITCODE -ne 0) {
            throw "$Member is not in $Archive (tar.exe exit code $LASTEXITCODE)"
        }
        $file = Join-Path $temp ($Member -replace '/', '\')
        $result = [pscustomobject]@{ Sha256 = (Get-Sha256 $file); Path = '' }
        if ($KeepIn) {
            $kept = Join-Path $KeepIn ([IO.Path]::GetFileName($file))
            Copy-Item -LiteralPath $file -Destination $kept -Force
            $result.Path = $kept
        }
        return $result
    } finally {
        Remove-Item -LiteralPath $temp -Recurse -Force -ErrorAction SilentlyContinue
    }
}

# What a program says its version is: "containerd-shim-runhcs-v1 version 0.13.0".
function Get-ProgramVersion {
    param([Parameter(Mandatory = $true)][string]$Path)
    try {
        $first = @(& $Path --version)[0]
    } catch {
        return ''
    }
    if ("$first" -match 'version\s+v?(\d+\.\d+(\.\d+)?([-+][0-9A-Za-z.+-]+)?)(\s|$)') {
        return $Matches[1]
    }
    return ''
}

# A TOML string for a path: relative to the manifest folder when inside it.
function ConvertTo-TomlPath {
    param([Parameter(Mandatory = $true)][string]$Path)
    $full = Resolve-FullPath $Path
    $base = $script:ManifestDir.TrimEnd('\') + '\'
    if ($full.StartsWith($base, [StringComparison]::OrdinalIgnoreCase)) {
        return '"' + ($full.Substring($base.Length) -replace '\\', '/') + '"'
    }
    if ($full.Contains("'")) {
        throw "$full contains a single quote; move it or the manifest"
    }
    return "'" + $full + "'"
}

function Format-Artifact {
    param(
        [Parameter(Mandatory = $true)][string]$Name,
        [Parameter(Mandatory = $true)][string]$Version,
        [Parameter(Mandatory = $true)][string]$Hash,
        [Parameter(Mandatory = $true)][string]$File,
        [string]$Member = '',
        [string]$ArchiveHash = '',
        [string]$Comment = ''
    )
    $source = 'file = ' + (ConvertTo-TomlPath $File)
    if ($Member) {
        $source += ", member = `"$Member`", archive_sha256 = `"$ArchiveHash`""
    }
    $lines = @('', "[artifacts.$Name]")
    if ($Comment) {
        $lines += "# $Comment"
    }
    $lines += "version = `"$Version`""
    $lines += "sha256 = `"$Hash`""
    $lines += "source = { $source }"
    return $lines
}

foreach ($pair in @(@('ContainerdVersion', $ContainerdVersion), @('CrictlVersion', $CrictlVersion))) {
    if ($pair[1] -notmatch $VersionPattern) {
        throw "-$($pair[0]) '$($pair[1])' is not a version like 1.7.22"
    }
}
$containerdV = $ContainerdVersion -replace '^v', ''
$crictlV = $CrictlVersion -replace '^v', ''
if ($ShimPath -and $ShimUrl) {
    throw 'give -ShimPath or -ShimUrl, not both'
}
if ($ShimVersion -and ($ShimVersion -notmatch '^v?\d+\.\d+(\.\d+)?([-+.][0-9A-Za-z.+-]+)?$')) {
    throw "-ShimVersion '$ShimVersion' is not a version like 0.13.0"
}

$manifest = Resolve-FullPath $OutFile
$script:ManifestDir = Split-Path -Parent $manifest
if (-not $DownloadDir) {
    $DownloadDir = Join-Path $script:ManifestDir 'downloads'
}
$downloads = Resolve-FullPath $DownloadDir
New-Item -ItemType Directory -Force -Path $script:ManifestDir, $downloads | Out-Null

# containerd: the release archive and the sha256sum file beside it.
if ($ContainerdArchive) {
    $containerdTgz = Resolve-FullPath $ContainerdArchive
} else {
    $url = "https://github.com/containerd/containerd/releases/download/v$containerdV/containerd-$containerdV-windows-amd64.tar.gz"
    $containerdTgz = Get-ReleaseArchive -Url $url -ChecksumUrl "$url.sha256sum" -Directory $downloads
}
# crictl: cri-tools publishes a .sha256 file beside the archive.
if ($CrictlArchive) {
    $crictlTgz = Resolve-FullPath $CrictlArchive
} else {
    $url = "https://github.com/kubernetes-sigs/cri-tools/releases/download/v$crictlV/crictl-v$crictlV-windows-amd64.tar.gz"
    $crictlTgz = Get-ReleaseArchive -Url $url -ChecksumUrl "$url.sha256" -Directory $downloads
}
$containerdSha = Get-Sha256 $containerdTgz
$crictlSha = Get-Sha256 $crictlTgz

$containerdExe = Get-MemberSha256 -Archive $containerdTgz -Member 'bin/containerd.exe'
$crictlExe = Get-MemberSha256 -Archive $crictlTgz -Member 'crictl.exe'

# The shim.
$shimMember = ''
$shimComment = ''
if ($ShimUrl) {
    $shimFile = Join-Path $downloads 'containerd-shim-runhcs-v1.exe'
    Get-Download -Url $ShimUrl -Path $shimFile
    $shimComment = "downloaded from $ShimUrl"
} elseif ($ShimPath) {
    $shimFile = Resolve-FullPath $ShimPath
    if (-not (Test-Path -LiteralPath $shimFile -PathType Leaf)) {
        throw "-ShimPath $shimFile does not exist"
    }
    $shimComment = 'built by ci/scripts/build-shim.ps1'
} else {
    $shimMember = 'bin/containerd-shim-runhcs-v1.exe'
    $shimFile = $containerdTgz
    $shimComment = "the shim shipped in containerd $containerdV's archive"
}
if ($shimMember) {
    $extracted = Get-MemberSha256 -Archive $containerdTgz -Member $shimMember -KeepIn $downloads
    $shimSha = $extracted.Sha256
    $shimProgram = $extracted.Path
} else {
    $shimSha = Get-Sha256 $shimFile
    $shimProgram = $shimFile
}
if (-not $ShimVersion) {
    $ShimVersion = Get-ProgramVersion $shimProgram
}
if (-not $ShimVersion) {
    $ShimVersion = '0.0.0+sha.' + $shimSha.Substring(0, 12)
    Write-Warning "the shim states no version; recording $ShimVersion"
}
$ShimVersion = $ShimVersion -replace '^v', ''

if (-not $Name) {
    $Name = "ci-containerd-$containerdV-shim-$ShimVersion"
}
$Name = $Name -replace '[^A-Za-z0-9_.+-]', '-'

$lines = @(
    "# Runtime bundle written by ci/scripts/write-bundle.ps1 on $env:COMPUTERNAME at $((Get-Date).ToUniversalTime().ToString('yyyy-MM-ddTHH:mm:ssZ')).",
    '# Format: harness/runtime/bundle.py.  sha256 is the hash of each program as installed.',
    '',
    '[bundle]',
    "name = `"$Name`""
)
$lines += Format-Artifact -Name 'containerd' -Version $containerdV -Hash $containerdExe.Sha256 -File $containerdTgz -Member 'bin/containerd.exe' -ArchiveHash $containerdSha
$shimArgs = @{ Name = 'containerd-shim-runhcs-v1'; Version = $ShimVersion; Hash = $shimSha; File = $shimFile; Comment = $shimComment }
if ($shimMember) {
    $shimArgs.Member = $shimMember
    $shimArgs.ArchiveHash = $containerdSha
}
$lines += Format-Artifact @shimArgs
$lines += Format-Artifact -Name 'crictl' -Version $crictlV -Hash $crictlExe.Sha256 -File $crictlTgz -Member 'crictl.exe' -ArchiveHash $crictlSha

$text = ($lines -join "`n") + "`n"
[IO.File]::WriteAllText($manifest, $text, (New-Object Text.UTF8Encoding $false))
Write-Host "wrote $manifest"
Write-Host "  containerd $containerdV  $($containerdExe.Sha256)"
Write-Host "  shim       $ShimVersion  $shimSha"
Write-Host "  crictl     $crictlV  $($crictlExe.Sha256)"
