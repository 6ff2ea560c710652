# One Windows service: query, register, set_start_type, start, stop, restart or delete.
# State and exit codes come from Win32_Service (ExitCode is the Win32 exit code,
# ServiceSpecificExitCode the service's own), so a failed start can be explained.  start,
# stop and restart wait for the wanted state until $timeout_seconds; a start that ends in
# Stopped returns at once.  The answer is the service's state afterwards, never a guess.
# Windows PowerShell 5.1 has no Remove-Service: delete uses Win32_Service.Delete.
param(
    [Parameter(Mandatory = $true)][string]$action,
    [Parameter(Mandatory = $true)][string]$name,
    [string]$binary_path,
    [string]$display_name,
    [string]$start_type,
    [string]$description,
    [int]$timeout_seconds
)
$ErrorActionPreference = 'Stop'
$actions = 'query', 'register', 'set_start_type', 'start', 'stop', 'restart', 'delete'
if ($actions -notcontains $action) { throw "unknown action '$action' (one of: $($actions -join ', '))" }

function Get-ServiceState {
    $quoted = $name.Replace('\', '\\').Replace("'", "\'")
    $s = Get-CimInstance -ClassName Win32_Service -Filter "Name='$quoted'"
    if ($null -eq $s) { return [ordered]@{ name = $name; exists = $false } }
    [ordered]@{
        name = [string]$s.Name
        exists = $true
        display_name = [string]$s.DisplayName
        state = [string]$s.State
        start_mode = [string]$s.StartMode
        binary_path = [string]$s.PathName
        process_id = [long]$s.ProcessId
        exit_code = [long]$s.ExitCode
        service_specific_exit_code = [long]$s.ServiceSpecificExitCode
        description = [string]$s.Description
    }
}

function Wait-ServiceState([string]$want, [DateTime]$deadline) {
    while ($true) {
        $s = Get-ServiceState
        if (-not $s.exists -or $s.state -eq $want) { return $s }
        if ($want -eq 'Running' -and $s.state -eq 'Stopped') { return $s }
        if ([DateTime]::UtcNow -ge $deadline) { return $s }
        Start-Sleep -Milliseconds 250
    }
}

function Get-InnermostMessage([Exception]$e) {
    while ($null -ne $e.InnerException) { $e = $e.InnerException }
    $e.Message
}

if ($action -eq 'query') {
    Write-HpcE2EResult (Get-ServiceState)
    return
}
$principal = [Security.Principal.WindowsPrincipal][Security.Principal.WindowsIdentity]::GetCurrent()
if (-not $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)) {
    throw "Access is denied: changing service '$name' needs an elevated administrator."
}
if ($action -eq 'register') {
    $spec = @{ Name = $name; BinaryPathName = $binary_path; StartupType = $start_type }
    if ($display_name) { $spec['DisplayName'] = $display_name }
    if ($description) { $spec['Description'] = $description }
    $null = New-Service @spec
    Write-HpcE2EResult (Get-ServiceState)
    return
}
if ($action -eq 'set_start_type') {
    Set-Service -Name $name -StartupType $start_type
    Write-HpcE2EResult (Get-ServiceState)
    return
}
if ($action -eq 'delete') {
    $quoted = $name.Replace('\', '\\').Replace("'", "\'")
    $s = Get-CimInstance -ClassName Win32_Service -Filter "Name='$quoted'"
    if ($null -eq $s) { throw "Cannot find any service with service name '$name'." }
    $r = Invoke-CimMethod -InputObject $s -MethodName Delete
    if ($r.ReturnValue -ne 0) { throw "Win32_Service.Delete of '$name' returned $($r.ReturnValue)" }
    Write-HpcE2EResult (Get-ServiceState)
    return
}
$svc = Get-Service -Name $name
$deadline = [DateTime]::UtcNow.AddSeconds($timeout_seconds)
$problem = $null
$want = 'Running'
if ($action -eq 'stop' -or $action -eq 'restart') {
    if ($svc.Status -eq 'Running') {
        try { $svc.Stop() } catch { $problem = Get-InnermostMessage $_.Exception }
    }
    $state = Wait-ServiceState 'Stopped' $deadline
    if ($action -eq 'stop') { $want = 'Stopped' }
    elseif ($state.state -ne 'Stopped') { $want = 'Stopped' }
}
if ($want -eq 'Running') {
    $svc.Refresh()
    if ($svc.Status -eq 'Stopped') {
        try { $svc.Start() } catch { $problem = Get-InnermostMessage $_.Exception }
    }
    $state = Wait-ServiceState 'Running' $deadline
}
$state['wanted'] = $want
$state['reached'] = ($state.state -eq $want)
$state['error'] = $problem
Write-HpcE2EResult $state
