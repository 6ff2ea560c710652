<#
.SYNOPSIS
Builds the hpc-e2e probe image for a Windows build and imports it into containerd.

.DESCRIPTION
Everything about the image comes from hpc_images\images.toml through images\render.py, which
writes a build context and plan.json (Windows PowerShell 5.1 reads JSON, not TOML). This
script only follows the plan:
  1. render: python images\render.py context --build <Build> --out <OutDir>
     (skipped when -Plan names a plan rendered elsewhere, e.g. on the controller);
  2. check the context files against the plan's SHA-256 (a copy may have changed them);
  3. docker build --tag <tag> (the Dockerfile has no RUN step, see images\README.md);
  4. smoke checks in normal containers of the image (docker run), unless -NoSmokeTest;
  5. docker save to <plan folder>\<tar>;
  6. ctr.exe -n k8s.io images import <tar>, then confirm containerd lists the image,
     unless -NoImport. crictl cannot do this step: the CRI image service has no import
     call, only pull, list, status and remove.
Run it elevated on the host under test (ctr.exe needs containerd's pipe). On a runner that
is not the host, use -NoImport and import the tar on the host with the same ctr command.

.EXAMPLE
powershell.exe -NoProfile -ExecutionPolicy Bypass -File images\build.ps1

.EXAMPLE
.\images\build.ps1 -Build 20348 -NoImport

.EXAMPLE
.\images\build.ps1 -Plan C:\stage\probe\plan.json
#>
[CmdletBinding()]
param(
    # The Windows build to build for; default: this host's. images.toml's entry for it or
    # the nearest lower build is used.
    [int]$Build = 0,
    # Where render.py writes plan.json and context\, and where the tar goes.
    [string]$OutDir = '',
    # A plan.json rendered elsewhere (its folder must hold the context beside it).
    [string]$Plan = '',
    [string]$Python = 'python',
    [string]$Docker = 'docker',
    # ctr.exe; default: beside containerd.exe in %ProgramFiles%\containerd\bin, else PATH.
    [string]$Ctr = '',
    # containerd's pipe (docs/behaviour/ecosystem.md 2.4).
    [string]$Address = '\\.\pipe\containerd-containerd',
    [switch]$NoSmokeTest,
    [switch]$NoImport
)

Set-StrictMode -Version 2.0
$ErrorActionPreference = 'Stop'

$PlanGenerator = 'images/render.py'
$PlanSchema = 1
# cmd.exe's exit code for "is not recognized as an internal or external command".
$NotRecognized = 9009

function Get-HostBuild {
    $key = Get-ItemProperty -Path 'HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion'
    return [int]$key.CurrentBuildNumber
}

function Resolve-Program {
    # A program's full path: the explicit one if given, else the first existing candidate,
    # else PATH. Resolving first turns "not installed" into one clear message.
    param([string]$Explicit, [string]$Name, [string[]]$Candidates, [string]$Hint)
    if ($Explicit) {
        if (Test-Path -LiteralPath $Explicit -PathType Leaf) { return $Explicit }
        $found = Get-Command -Name $Explicit -CommandType Application -ErrorAction SilentlyContinue |
            Select-Object -First 1
        if ($found) { return $found.Path }
        throw "$Explicit was not found. $Hint"
    }
    foreach ($candidate in $Candidates) {
        if ($candidate -and (Test-Path -LiteralPath $candidate -PathType Leaf)) { return $candidate }
    }
    $found = Get-Command -Name $Name -CommandType Application -ErrorAction SilentlyContinue |
        Select-Object -First 1
    if ($found) { return $found.Path }
    throw "$Name was not found. $Hint"
}

function Invoke-Native {
    # Runs a program and returns its exit code and stdout lines; stderr stays on the console.
    # No 2>&1 here: with ErrorActionPreference Stop, Windows PowerShell 5.1 turns every
    # stderr line of a native program into a terminating error.
    param([string]$FilePath, [string[]]$Arguments)
    $ErrorActionPreference = 'Continue'
    $output = & $FilePath @Arguments
    $code = $LASTEXITCODE
    $lines = @()
    if ($null -ne $output) { $lines = @($output | ForEach-Object { "$_" }) }
    return [pscustomobject]@{ ExitCode = $code; Lines = $lines }
}

function Invoke-Step {
    param([string]$What, [string]$FilePath, [string[]]$Arguments)
    Write-Host "==> $What"
    Write-Host "    $FilePath $($Arguments -join ' ')"
    $result = Invoke-Native -FilePath $FilePath -Arguments $Arguments
    foreach ($line in $result.Lines) { Write-Host "    $line" }
    if ($result.ExitCode -ne 0) {
        throw "$What failed: $FilePath exited with $($result.ExitCode) (output above)"
    }
    return $result
}

function Join-PlanPath {
    # plan.json's paths are relative to its folder and use forward slashes.
    param([string]$PlanDir, [string]$Relative)
    return Join-Path $PlanDir ($Relative -replace '/', '\')
}

function Read-Plan {
    param([string]$Path)
    $text = [IO.File]::ReadAllText($Path, [Text.Encoding]::UTF8)
    $plan = $text | ConvertFrom-Json
    $generator = $plan.PSObject.Properties['generator']
    $schema = $plan.PSObject.Properties['schema']
    if (-not $generator -or $generator.Value -ne $PlanGenerator -or -not $schema -or $schema.Value -ne $PlanSchema) {
        throw "$Path is not a plan of $PlanGenerator (schema $PlanSchema); render it again with this checkout"
    }
    return $plan
}

function Test-ContextFiles {
    # The literal files must reach the image byte for byte; a copy through git or a zip
    # tool may have changed their line endings.
    param($Plan, [string]$PlanDir)
    foreach ($file in $Plan.files) {
        if ($file.source -ne 'context') { continue }
        $local = Join-PlanPath -PlanDir $PlanDir -Relative $file.context_file
        if (-not (Test-Path -LiteralPath $local -PathType Leaf)) {
            throw "$local is missing; render the plan again (render.py context)"
        }
        $hash = (Get-FileHash -LiteralPath $local -Algorithm SHA256).Hash.ToLowerInvariant()
        if ($hash -ne $file.sha256) {
            throw "$local differs from the plan (sha256 $hash, expected $($file.sha256)); copy the rendered folder byte for byte or render it here"
        }
    }
}

function Test-Probe {
    # Runs the plan's checks in normal containers of the image; the number of failed errors.
    param($Plan, [string]$DockerPath)
    $failed = 0
    foreach ($check in $Plan.checks) {
        $arguments = @('run', '--rm', $Plan.tag) + @($check.argv)
        $result = Invoke-Native -FilePath $DockerPath -Arguments $arguments
        $code = $result.ExitCode
        if ($check.expect -eq 'exit0') {
            $ok = ($code -eq 0)
            if ($ok -and $null -ne $check.stdout) {
                $seen = ($result.Lines -join "`n").TrimEnd()
                $ok = ($seen -ceq ($check.stdout -replace "`r`n", "`n"))
            }
        } elseif ($check.expect -eq 'ran') {
            $ok = ($code -ge 0 -and $code -le 255 -and $code -ne $NotRecognized)
        } else {
            throw "check '$($check.what)': unknown expectation '$($check.expect)'; render the plan with this checkout"
        }
        if ($ok) {
            Write-Host "    ok      $($check.what)"
        } elseif ($check.severity -eq 'warning') {
            Write-Warning "$($check.what): not so (exit code $code)"
        } else {
            Write-Host "    FAILED  $($check.what) (exit code $code; stdout: $($result.Lines -join ' | '))"
            $failed += 1
        }
    }
    return $failed
}

try {
    $hostBuild = Get-HostBuild
    if ($Build -eq 0) { $Build = $hostBuild }

    if ($Plan) {
        $planPath = (Resolve-Path -LiteralPath $Plan).Path
    } else {
        if (-not $OutDir) { $OutDir = Join-Path ([IO.Path]::GetTempPath()) "hpc-e2e-probe-$Build" }
        # Absolute before handing it to another process (PowerShell's location is not the
        # process's current directory).
        $OutDir = $ExecutionContext.SessionState.Path.GetUnresolvedProviderPathFromPSPath($OutDir)
        $pythonPath = Resolve-Program -Explicit $Python -Name 'python.exe' -Candidates @() `
            -Hint 'Install Python 3.11 or later (render.py needs tomllib), or render elsewhere and pass -Plan.'
        $render = Join-Path $PSScriptRoot 'render.py'
        $null = Invoke-Step -What 'render the build from images.toml' -FilePath $pythonPath `
            -Arguments @($render, 'context', '--build', "$Build", '--out', $OutDir)
        $planPath = Join-Path $OutDir 'plan.json'
    }
    $planDir = Split-Path -Parent $planPath
    $p = Read-Plan -Path $planPath
    Write-Host "==> probe $($p.tag) for build $($p.build) ($($p.ltsc)) from $($p.base)"
    if ($hostBuild -lt $p.build) {
        throw "this host is build $hostBuild; the $($p.ltsc) probe needs a host of build $($p.build) or later (a Windows host runs images up to its own build, docs/behaviour/ecosystem.md 4.4, and the smoke checks run the image)"
    }
    Test-ContextFiles -Plan $p -PlanDir $planDir

    $dockerPath = Resolve-Program -Explicit $Docker -Name 'docker.exe' -Candidates @() `
        -Hint 'Install Docker (Windows runners of GitHub Actions have it) or pass -Docker <path>.'
    $null = Invoke-Step -What "build $($p.tag)" -FilePath $dockerPath -Arguments @(
        'build', '--tag', $p.tag, '--file', (Join-PlanPath -PlanDir $planDir -Relative $p.dockerfile),
        (Join-PlanPath -PlanDir $planDir -Relative $p.context))

    if (-not $NoSmokeTest) {
        Write-Host '==> smoke checks (docker run)'
        $failed = Test-Probe -Plan $p -DockerPath $dockerPath
        if ($failed -gt 0) { throw "$failed smoke check(s) of $($p.tag) failed (listed above)" }
    }

    $tar = Join-PlanPath -PlanDir $planDir -Relative $p.tar
    $null = Invoke-Step -What "save $($p.tag) to $tar" -FilePath $dockerPath -Arguments @('save', '--output', $tar, $p.tag)

    if ($NoImport) {
        Write-Host "done: $tar (import it on the host: ctr.exe -n k8s.io images import $($p.tar))"
        exit 0
    }
    $ctrPath = Resolve-Program -Explicit $Ctr -Name 'ctr.exe' `
        -Candidates @((Join-Path $env:ProgramFiles 'containerd\bin\ctr.exe'), (Join-Path $env:ProgramFiles 'containerd\ctr.exe')) `
        -Hint 'ctr.exe is in bin\ of the containerd release archive; pass -Ctr <path>.'
    $ctrFlags = @('--address', $Address, '--namespace', 'k8s.io')
    $null = Invoke-Step -What "import into containerd's k8s.io namespace" -FilePath $ctrPath `
        -Arguments ($ctrFlags + @('images', 'import', $tar))
    $listed = Invoke-Step -What 'list images in k8s.io' -FilePath $ctrPath `
        -Arguments ($ctrFlags + @('images', 'list', '--quiet'))
    if (-not ($listed.Lines -contains $p.ref)) {
        throw "containerd does not list $($p.ref) after the import (see the list above)"
    }
    Write-Host "done: $($p.ref) is in containerd's k8s.io namespace (crictl images shows it)"
    exit 0
} catch {
    [Console]::Error.WriteLine("build.ps1: error: $($_.Exception.Message)")
    exit 1
}
