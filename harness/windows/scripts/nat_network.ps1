# The host's HNS network named "nat": the subnet and gateway that the nat CNI plugin's config
# must name (the recipe of containerd's script/setup/install-cni-windows and nerdctl's
# hack/configure-windows-ci.ps1).  found = false when there is none: the Containers feature
# creates it once HNS has started after the feature's restart.
param()
$ErrorActionPreference = 'Stop'
$network = $null
if (Get-Command -Name Get-HnsNetwork -ErrorAction SilentlyContinue) {
    $network = Get-HnsNetwork | Where-Object { $_.Name -eq 'nat' } | Select-Object -First 1
}
if ($null -eq $network -or -not $network.Subnets) {
    Write-HpcE2EResult ([ordered]@{ found = $false; subnet = $null; gateway = $null })
    return
}
Write-HpcE2EResult ([ordered]@{
    found = $true
    subnet = [string]$network.Subnets[0].AddressPrefix
    gateway = [string]$network.Subnets[0].GatewayAddress
})
