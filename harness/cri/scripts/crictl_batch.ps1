# Several crictl steps in one remote command (harness/cri/batch.py).  First the small files
# listed in $files are written: their content arrives on stdin, one base64 line per file in
# the order given; each is checked against its size and SHA-256, written under a temporary
# name beside the destination and renamed over it (as receive_file.ps1 does).  Then the
# steps run: steps with the same group number run one after another, in the order given,
# and a group stops at its first step that does not exit 0 (or outlives its timeout);
# different groups run at the same time.  A step with id_from takes the ID that step of its
# group printed (one line, ID characters only, else its group stops there) in place of
# @hpc-e2e-id@ in its arguments.  Each step is one process started with
# System.Diagnostics.Process (built into .NET Framework 4.5, so Windows PowerShell 5.1 needs
# no module): its output is read with ReadToEndAsync, so no event handler runs PowerShell
# code on another thread, and this one thread polls the processes.  The result line holds,
# per step that ran: its group, index, stage, command line, exit code, stdout, stderr and
# UTC start and end times; a step whose group stopped earlier is absent.
param(
    [object[]]$files = @(),
    [Parameter(Mandatory = $true)][object[]]$steps
)
$ErrorActionPreference = 'Stop'
$invariant = [Globalization.CultureInfo]::InvariantCulture

function Get-HpcE2EStamp {
    [DateTime]::UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", $invariant)
}

$written = New-Object System.Collections.ArrayList
foreach ($f in $files) {
    $full = [IO.Path]::GetFullPath([string]$f.path)
    $line = [Console]::In.ReadLine()
    if ($null -eq $line) { throw "stdin ended before the content of $full" }
    $bytes = [Convert]::FromBase64String($line.Trim())
    $hash = Get-HpcE2EHex ([Security.Cryptography.SHA256]::Create().ComputeHash($bytes))
    if ($bytes.Length -ne [long]$f.size) {
        throw "received $($bytes.Length) bytes for $full, expected $($f.size)"
    }
    if ($hash -ne [string]$f.sha256) {
        throw "sha256 of the bytes received for $full is $hash, expected $($f.sha256)"
    }
    [void][IO.Directory]::CreateDirectory([IO.Path]::GetDirectoryName($full))
    $tmp = "$full." + [Guid]::NewGuid().ToString('N').Substring(0, 8) + '.hpce2e-tmp'
    [IO.File]::WriteAllBytes($tmp, $bytes)
    try {
        if ([IO.File]::Exists($full)) {
            [IO.File]::Replace($tmp, $full, [NullString]::Value)
        } else {
            [IO.File]::Move($tmp, $full)
        }
    } catch {
        if ([IO.File]::Exists($tmp)) { [IO.File]::Delete($tmp) }
        throw
    }
    [void]$written.Add(@{ path = $full; size = $bytes.Length; sha256 = $hash })
}

$queues = @{}
$order = New-Object System.Collections.ArrayList
foreach ($s in $steps) {
    $g = [int]$s.group
    if (-not $queues.ContainsKey($g)) {
        $queues[$g] = New-Object System.Collections.ArrayList
        [void]$order.Add($g)
    }
    [void]$queues[$g].Add($s)
}

$printed = @{}
function Start-HpcE2EStep([int]$Group, [int]$Index) {
    $step = $queues[$Group][$Index]
    $arguments = [string]$step.arguments
    if ($null -ne $step.id_from) {
        $text = [string]$printed["$Group/$([int]$step.id_from)"]
        $lines = @($text -split "`r?`n" | ForEach-Object { $_.Trim() } | Where-Object { $_ })
        if ($lines.Count -ne 1 -or $lines[0] -notmatch '^[A-Za-z0-9][A-Za-z0-9_.:-]*$') {
            return $null
        }
        $arguments = $arguments.Replace('@hpc-e2e-id@', $lines[0])
    }
    $psi = New-Object System.Diagnostics.ProcessStartInfo
    $psi.FileName = [string]$step.file
    $psi.Arguments = $arguments
    $psi.UseShellExecute = $false
    $psi.CreateNoWindow = $true
    $psi.RedirectStandardInput = $true
    $psi.RedirectStandardOutput = $true
    $psi.RedirectStandardError = $true
    $psi.StandardOutputEncoding = New-Object System.Text.UTF8Encoding($false)
    $psi.StandardErrorEncoding = New-Object System.Text.UTF8Encoding($false)
    $run = @{
        group = $Group; index = $Index; step = $step; arguments = $arguments
        started = (Get-HpcE2EStamp)
        clock = [Diagnostics.Stopwatch]::StartNew(); process = $null; out = $null; err = $null
        error = $null
    }
    try {
        $p = [Diagnostics.Process]::Start($psi)
        $p.StandardInput.Close()
        $run.process = $p
        $run.out = $p.StandardOutput.ReadToEndAsync()
        $run.err = $p.StandardError.ReadToEndAsync()
    } catch {
        $run.error = $_.Exception.Message
    }
    return $run
}

$results = New-Object System.Collections.ArrayList
$running = @{}
foreach ($g in $order) { $running[$g] = Start-HpcE2EStep $g 0 }
while ($running.Count -gt 0) {
    foreach ($g in @($running.Keys)) {
        $run = $running[$g]
        $timedOut = $false
        $code = $null
        if ($null -eq $run.error) {
            $p = $run.process
            if (-not $p.HasExited) {
                if ($run.clock.ElapsedMilliseconds -lt [long]$run.step.timeout_ms) { continue }
                $timedOut = $true
                try { $p.Kill() } catch { }
                $p.WaitForExit()
            }
            $code = $p.ExitCode
            $stdout = $run.out.Result
            $stderr = $run.err.Result
        } else {
            $stdout = ''
            $stderr = ''
        }
        [void]$results.Add(@{
            group = $g; index = $run.index; stage = [string]$run.step.stage
            command_line = '"' + [string]$run.step.file + '" ' + $run.arguments
            exit_code = $code; stdout = $stdout; stderr = $stderr; timed_out = $timedOut
            start_error = $run.error; started = $run.started; ended = (Get-HpcE2EStamp)
        })
        $running.Remove($g)
        $printed["$g/$($run.index)"] = $stdout
        $next = $run.index + 1
        if ($code -eq 0 -and -not $timedOut -and $next -lt $queues[$g].Count) {
            $run = Start-HpcE2EStep $g $next
            if ($null -ne $run) { $running[$g] = $run }
        }
    }
    if ($running.Count -gt 0) { Start-Sleep -Milliseconds 20 }
}
Write-HpcE2EResult @{ files = @($written); steps = @($results) }
