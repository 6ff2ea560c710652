<#
.SYNOPSIS
    Build containerd-shim-runhcs-v1.exe from an hcsshim ref, stamped with its version.

.DESCRIPTION
    Clones hcsshim (or updates an existing clone) at -Ref, then runs
    `go build ./cmd/containerd-shim-runhcs-v1`.  The shim reads its version and commit from
    `main.version` and `main.gitCommit` (set by hcsshim's own build with -ldflags), so this
    build sets them too: `containerd-shim-runhcs-v1 --version` then prints
    `git describe --tags` of the ref, which the harness records in the report.
    Go must be on PATH (actions/setup-go, GoTool@0, or a local install); go.mod's toolchain
    line may make Go fetch a newer toolchain (GOTOOLCHAIN=auto).

    With -NoFetch the script builds -SourceDir exactly as it is (a checkout made by
    actions/checkout, say).  With -FetchOnly it only checks the ref out (Go need not be
    installed yet) and reports the Go version hcsshim's go.mod asks for, as setup-go's
    go-version-file reads it (the toolchain directive, else the go directive); under Azure
    Pipelines it also sets the pipeline variable hcsshimGoVersion for GoTool@0.
    Windows PowerShell 5.1 and PowerShell 7 both run it.

.EXAMPLE
    .\ci\scripts\build-shim.ps1 -Ref main -OutputDir out\shim
.EXAMPLE
    .\ci\scripts\build-shim.ps1 -SourceDir hcsshim -NoFetch -OutputDir out\shim
#>
[CmdletBinding()]
param(
    [string]$Ref = 'main',
    [string]$Repository = 'https://github.com/microsoft/hcsshim.git',
    [string]$SourceDir = 'hcsshim',
    [string]$OutputDir = 'out\shim',
    [switch]$NoFetch,
    [switch]$FetchOnly
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 1.0

function Invoke-Native {
    param(
        [Parameter(Mandatory = $true)][string]$FilePath,
        [string[]]$Arguments = @()
    )
    & $FilePath @Arguments
    if ($LASTEXITCODE -ne 0) {
        throw "$FilePath $($Arguments -join ' ') failed with exit code $LASTEXITCODE"
    }
}

function Get-NativeOutput {
    param(
        [Parameter(Mandatory = $true)][string]$FilePath,
        [string[]]$Arguments = @()
    )
    $text = & $FilePath @Arguments
    if ($LASTEXITCODE -ne 0) {
        throw "$FilePath $($Arguments -join ' ') failed with exit code $LASTEXITCODE"
    }
    return (@($text) -join "`n").Trim()
}

$tools = if ($FetchOnly) { @('git') } else { @('git', 'go') }
foreach ($tool in $tools) {
    if (-not (Get-Command $tool -ErrorAction SilentlyContinue)) {
        throw "$tool is not on PATH: install it (actions/setup-go or GoTool@0 for Go) and re-run"
    }
}

$source = $ExecutionContext.SessionState.Path.GetUnresolvedProviderPathFromPSPath($SourceDir)
$output = $ExecutionContext.SessionState.Path.GetUnresolvedProviderPathFromPSPath($OutputDir)

if (-not $NoFetch) {
    if (-not (Test-Path -LiteralPath (Join-Path $source '.git'))) {
        Write-Host "cloning $Repository into $source"
        Invoke-Native git @('clone', '--quiet', '--no-checkout', $Repository, $source)
    }
    Write-Host "checking out $Ref"
    # A branch, a tag or a commit: fetch it by name, then check out what was fetched.
    Invoke-Native git @('-C', $source, 'fetch', '--quiet', '--tags', '--force', 'origin', $Ref)
    Invoke-Native git @('-C', $source, '-c', 'advice.detachedHead=false', 'checkout', '--quiet', '--force', 'FETCH_HEAD')
}
if (-not (Test-Path -LiteralPath (Join-Path $source 'go.mod'))) {
    throw "$source has no go.mod: is it an hcsshim checkout?"
}
$goMod = Get-Content -LiteralPath (Join-Path $source 'go.mod')
$toolchain = @($goMod | Select-String -Pattern '^toolchain\s+go(\S+)')
$goLine = @($goMod | Select-String -Pattern '^go\s+(\S+)')
if ($toolchain.Count -gt 0) {
    $goVersion = $toolchain[0].Matches[0].Groups[1].Value
} elseif ($goLine.Count -gt 0) {
    $goVersion = $goLine[0].Matches[0].Groups[1].Value
} else {
    throw "$source\go.mod has neither a toolchain nor a go directive"
}
Write-Host "hcsshim's go.mod asks for Go $goVersion"
if ($FetchOnly) {
    if ($env:TF_BUILD) {
        Write-Host "##vso[task.setvariable variable=hcsshimGoVersion]$goVersion"
    }
    return
}

$commit = Get-NativeOutput git @('-C', $source, 'rev-parse', 'HEAD')
$describe = ''
try {
    $describe = Get-NativeOutput git @('-C', $source, 'describe', '--tags', '--always')
} catch {
    Write-Warning "git describe failed ($_); the shim gets a commit-only version"
}
# The harness's bundle needs a version like 0.13.0 (a suffix is fine); a shallow clone
# without tags describes as a bare hash.
if ($describe -match '^v?(\d+\.\d+(\.\d+)?([-+.][0-9A-Za-z.+-]+)?)$') {
    $version = $Matches[1]
} else {
    $version = '0.0.0+g' + $commit.Substring(0, 12)
}

New-Item -ItemType Directory -Force -Path $output | Out-Null
$exe = Join-Path $output 'containerd-shim-runhcs-v1.exe'
$env:GOOS = 'windows'
$env:GOARCH = 'amd64'
$env:CGO_ENABLED = '0'
Write-Host "building containerd-shim-runhcs-v1 $version ($commit)"
Push-Location $source
try {
    Invoke-Native go @('build', '-trimpath', '-ldflags', "-X main.version=$version -X main.gitCommit=$commit", '-o', $exe, './cmd/containerd-shim-runhcs-v1')
} finally {
    Pop-Location
}

$sha256 = (Get-FileHash -LiteralPath $exe -Algorithm SHA256).Hash.ToLowerInvariant()
Write-Host "built $exe"
Write-Host "  version $version"
Write-Host "  commit  $commit"
Write-Host "  sha256  $sha256"
