# Read-only: one record on each PowerShell stream the harness's scripts may write besides
# output, so a caller sees where powershell.exe (started by the transport's bootstrap) puts
# them: a warning, a verbose record, a non-terminating error and a progress record.
param(
    [Parameter(Mandatory = $true)][string]$text
)
$ErrorActionPreference = 'Stop'
Write-Warning "warning $text"
Write-Verbose "verbose $text" -Verbose
Write-Error "error $text" -ErrorAction Continue
$ProgressPreference = 'Continue'
Write-Progress -Activity "progress $text" -Status 'probe' -PercentComplete 50
Write-Progress -Activity "progress $text" -Completed
Write-HpcE2EResult ([ordered]@{ text = $text })
