# Read-only: how the WinRM service lets clients in (`winrm get winrm/config/service` shows the
# same values): the Auth container's switches (Basic, Negotiate, Kerberos, ...,
# CbtHardeningLevel) and AllowUnencrypted.  The WSMan: drive needs the WinRM service running
# and an elevated administrator; when it cannot be read, error says why and nothing else is set.
param()
$ErrorActionPreference = 'Stop'
try {
    $auth = [ordered]@{}
    foreach ($item in Get-ChildItem -Path 'WSMan:\localhost\Service\Auth') {
        $auth[[string]$item.Name] = [string]$item.Value
    }
    $unencrypted = [string](Get-Item -Path 'WSMan:\localhost\Service\AllowUnencrypted').Value
} catch {
    Write-HpcE2EResult ([ordered]@{ error = $_.Exception.Message; auth = $null;
                                    allow_unencrypted = $null })
    return
}
Write-HpcE2EResult ([ordered]@{ error = $null; auth = $auth; allow_unencrypted = $unencrypted })
