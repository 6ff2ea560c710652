<#
.SYNOPSIS
    Make a fresh Windows Server VM (or machine) ready for hpc-e2e: WinRM over HTTPS, the
    Hyper-V and Containers features, and optionally OpenSSH.

.DESCRIPTION
    Run it once on the lab host, elevated, in Windows PowerShell 5.1 (or PowerShell 7).
    Every step checks first and changes only what is missing, so running it again is safe
    and reports "ok" for what is already in place.

      1. WinRM: the service and its HTTP listener (Enable-PSRemoting), an HTTPS listener on
         5986 bound to a self-signed certificate for -HostName, and a firewall rule for 5986
         (docs/behaviour/ecosystem.md section 4.5).  Basic authentication and unencrypted HTTP stay
         off: hpc-e2e uses NTLM, which works over both listeners.
      2. The certificate is exported for the controller's inventory (winrm.ca_bundle):
         <HostName>-winrm-ca.pem (and a DER .cer), in -CertificateDir.  Its thumbprint and
         SHA-256 fingerprint are printed so the copy can be checked out of band.
      3. Windows features Containers and Hyper-V (section 4.1), unless -SkipFeatures.
         Hyper-V needs virtualization extensions: in a VM they come from nested
         virtualization, switched on from the Hyper-V host with
         ci/enable-nested-virtualization.ps1 while this VM is off (section 4.2).
      4. With -EnableSsh: the OpenSSH server capability, sshd started automatically, a
         firewall rule for 22, and -AuthorizedKey added to administrators_authorized_keys
         with the ACL sshd insists on (Administrators and SYSTEM only).
      5. A restart when the features ask for one (unless -NoRestart).

.PARAMETER HostName
    The name clients use to reach this host; it goes into the certificate (subject and
    DNS subject alternative name) and the listener.  Default: this machine's DNS name.
.PARAMETER ExtraDnsName
    More DNS names for the certificate.
.PARAMETER IpAddress
    IP addresses clients may use instead of a name (they go into the certificate too).
.PARAMETER CertificateDir
    Where the certificate is exported.  Default: C:\ProgramData\hpc-e2e\winrm.
.PARAMETER CertificateYears
    Validity of a new certificate.  An existing one is kept while it is valid for another
    30 days and covers every name asked for.
.PARAMETER FirewallRemoteAddress
    Who may reach 5986 (and 22): 'Any', a subnet ('10.0.0.0/24') or addresses.
.PARAMETER EnableSsh
    Also set up the Windows OpenSSH server (hpc-e2e's ssh transport).
.PARAMETER AuthorizedKey
    An OpenSSH public key, or the path of a .pub file, allowed to log in as an
    administrator.  Implies -EnableSsh.
.PARAMETER SkipFeatures
    Leave Windows features alone.
.PARAMETER NoRestart
    Do not restart even when a feature asks for it (the script says so; restart later).

.EXAMPLE
    .\bootstrap-lab-vm.ps1 -HostName lab1.example.test -IpAddress 10.0.0.11
.EXAMPLE
    .\bootstrap-lab-vm.ps1 -EnableSsh -AuthorizedKey C:\Users\me\id_ed25519.pub -NoRestart
#>
[CmdletBinding()]
param(
    [string]$HostName = '',
    [string[]]$ExtraDnsName = @(),
    [string[]]$IpAddress = @(),
    [string]$CertificateDir = (Join-Path $env:ProgramData 'hpc-e2e\winrm'),
    [ValidateRange(1, 20)]
    [int]$CertificateYears = 2,
    [string[]]$FirewallRemoteAddress = @('Any'),
    [switch]$EnableSsh,
    [string]$AuthorizedKey = '',
    [switch]$SkipFeatures,
    [switch]$NoRestart
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 1.0

$FriendlyName = 'hpc-e2e WinRM HTTPS'
$WinRmRuleName = 'hpc-e2e-WinRM-HTTPS-In'
$SshRuleName = 'hpc-e2e-OpenSSH-In'

function Write-Step {
    param([string]$Message)
    Write-Host ''
    Write-Host "== $Message"
}

function Write-Ok {
    param([string]$Message)
    Write-Host "   ok: $Message"
}

function Write-Change {
    param([string]$Message)
    Write-Host "   changed: $Message"
}

# --- 0. prerequisites --------------------------------------------------------------------------
$principal = New-Object Security.Principal.WindowsPrincipal([Security.Principal.WindowsIdentity]::GetCurrent())
if (-not $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)) {
    throw 'run this script elevated (Run as administrator)'
}
if (-not $HostName) {
    try {
        $HostName = [System.Net.Dns]::GetHostEntry($env:COMPUTERNAME).HostName  # the FQDN, when there is one
    } catch {
        $HostName = $env:COMPUTERNAME
    }
}
if ($AuthorizedKey) {
    $EnableSsh = $true
}
$dnsNames = @(@($HostName) + @($ExtraDnsName | Where-Object { $_ }) | Select-Object -Unique)
$os = Get-ItemProperty -Path 'HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion'
Write-Host "hpc-e2e lab bootstrap on $env:COMPUTERNAME ($($os.ProductName), build $($os.CurrentBuild).$($os.UBR))"
Write-Host "certificate names: $($dnsNames -join ', ')$(if ($IpAddress) { '; addresses: ' + ($IpAddress -join ', ') })"
$restartNeeded = $false

# --- 1. WinRM ----------------------------------------------------------------------------------
Write-Step 'WinRM service and HTTP listener'
$service = Get-Service -Name WinRM
$httpListener = $null
try {
    $httpListener = Get-WSManInstance -ResourceURI winrm/config/listener -SelectorSet @{ Address = '*'; Transport = 'HTTP' }
} catch {
    $httpListener = $null
}
if ($service.Status -eq 'Running' -and $service.StartType -eq 'Automatic' -and $httpListener) {
    Write-Ok 'WinRM is running with an HTTP listener'
} else {
    Enable-PSRemoting -Force -SkipNetworkProfileCheck | Out-Null
    Write-Change 'Enable-PSRemoting: WinRM service, HTTP listener (5985), firewall rule'
}
# A local administrator other than the built-in Administrator gets a filtered (not
# elevated) token over the network unless this is 1; hpc-e2e needs an elevated one.
$policyPath = 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System'
$policy = Get-ItemProperty -Path $policyPath -Name LocalAccountTokenFilterPolicy -ErrorAction SilentlyContinue
if ($policy -and $policy.LocalAccountTokenFilterPolicy -eq 1) {
    Write-Ok 'LocalAccountTokenFilterPolicy = 1 (local administrators are elevated over WinRM)'
} else {
    New-ItemProperty -Path $policyPath -Name LocalAccountTokenFilterPolicy -Value 1 -PropertyType DWord -Force | Out-Null
    Write-Change 'LocalAccountTokenFilterPolicy = 1 (local administrators are elevated over WinRM)'
}

Write-Step 'Certificate for the HTTPS listener'
$now = Get-Date
$wanted = @($dnsNames | ForEach-Object { "DNS Name=$_" }) + @($IpAddress | ForEach-Object { "IP Address=$_" })
$cert = Get-ChildItem -Path Cert:\LocalMachine\My |
    Where-Object { $_.FriendlyName -eq $FriendlyName -and $_.HasPrivateKey -and $_.NotAfter -gt $now.AddDays(30) } |
    Where-Object {
        $san = $_.Extensions | Where-Object { $_.Oid.Value -eq '2.5.29.17' }
        if (-not $san) { return $false }
        $text = $san.Format($false)
        @($wanted | Where-Object { $text -notlike "*$_*" }).Count -eq 0
    } |
    Sort-Object -Property NotAfter -Descending | Select-Object -First 1
if ($cert) {
    Write-Ok "certificate $($cert.Thumbprint), valid until $($cert.NotAfter.ToString('yyyy-MM-dd'))"
} else {
    # The subject alternative names as a text extension, so one call covers names and
    # addresses; the default type (SSLServerAuthentication) adds the server-authentication
    # usage (New-SelfSignedCertificate, Windows Server 2016 and later).
    $sanEntries = @($dnsNames | ForEach-Object { "DNS=$_" }) + @($IpAddress | ForEach-Object { "IPAddress=$_" })
    $cert = New-SelfSignedCertificate -Subject "CN=$HostName" `
        -TextExtension @("2.5.29.17={text}$($sanEntries -join '&')") `
        -CertStoreLocation Cert:\LocalMachine\My -FriendlyName $FriendlyName `
        -KeyAlgorithm RSA -KeyLength 2048 -HashAlgorithm SHA256 -KeyExportPolicy NonExportable `
        -NotAfter $now.AddYears($CertificateYears)
    Write-Change "new self-signed certificate $($cert.Thumbprint), valid until $($cert.NotAfter.ToString('yyyy-MM-dd'))"
}

Write-Step 'WinRM HTTPS listener (5986)'
$selector = @{ Address = '*'; Transport = 'HTTPS' }
$httpsListener = $null
try {
    $httpsListener = Get-WSManInstance -ResourceURI winrm/config/listener -SelectorSet $selector
} catch {
    $httpsListener = $null
}
if (-not $httpsListener) {
    New-WSManInstance -ResourceURI winrm/config/listener -SelectorSet $selector -ValueSet @{ Hostname = $HostName; CertificateThumbprint = $cert.Thumbprint } | Out-Null
    Write-Change "HTTPS listener for $HostName"
} elseif ($httpsListener.CertificateThumbprint -ne $cert.Thumbprint -or $httpsListener.Hostname -ne $HostName) {
    Set-WSManInstance -ResourceURI winrm/config/listener -SelectorSet $selector -ValueSet @{ Hostname = $HostName; CertificateThumbprint = $cert.Thumbprint } | Out-Null
    Write-Change "HTTPS listener now uses $($cert.Thumbprint) for $HostName"
} else {
    Write-Ok "HTTPS listener for $HostName with $($cert.Thumbprint)"
}

Write-Step 'Firewall'
function Set-InboundRule {
    param(
        [string]$Name,
        [string]$DisplayName,
        [int]$Port
    )
    $rule = Get-NetFirewallRule -Name $Name -ErrorAction SilentlyContinue
    if (-not $rule) {
        New-NetFirewallRule -Name $Name -DisplayName $DisplayName -Direction Inbound -Protocol TCP -LocalPort $Port -Action Allow -Profile Any -RemoteAddress $FirewallRemoteAddress | Out-Null
        Write-Change "$DisplayName (TCP $Port from $($FirewallRemoteAddress -join ', '))"
        return
    }
    $current = @(($rule | Get-NetFirewallAddressFilter).RemoteAddress)
    if (Compare-Object -ReferenceObject $current -DifferenceObject @($FirewallRemoteAddress)) {
        Set-NetFirewallRule -Name $Name -RemoteAddress $FirewallRemoteAddress -Enabled True
        Write-Change "$DisplayName now admits $($FirewallRemoteAddress -join ', ')"
    } elseif ($rule.Enabled -ne 'True') {
        Enable-NetFirewallRule -Name $Name
        Write-Change "$DisplayName enabled"
    } else {
        Write-Ok "$DisplayName (TCP $Port from $($FirewallRemoteAddress -join ', '))"
    }
}
Set-InboundRule -Name $WinRmRuleName -DisplayName 'hpc-e2e: WinRM over HTTPS' -Port 5986

Write-Step 'Certificate for the inventory (winrm.ca_bundle)'
New-Item -ItemType Directory -Force -Path $CertificateDir | Out-Null
$baseName = ($HostName -replace '[^A-Za-z0-9_.-]', '-') + '-winrm-ca'
$cerPath = Join-Path $CertificateDir "$baseName.cer"
$pemPath = Join-Path $CertificateDir "$baseName.pem"
Export-Certificate -Cert $cert -FilePath $cerPath -Type CERT -Force | Out-Null
$base64 = [Convert]::ToBase64String($cert.RawData)
$pemLines = @('-----BEGIN CERTIFICATE-----')
for ($i = 0; $i -lt $base64.Length; $i += 64) {
    $pemLines += $base64.Substring($i, [Math]::Min(64, $base64.Length - $i))
}
$pemLines += '-----END CERTIFICATE-----'
$pem = ($pemLines -join "`n") + "`n"
[IO.File]::WriteAllText($pemPath, $pem, (New-Object Text.ASCIIEncoding))
$sha = New-Object Security.Cryptography.SHA256Managed
$fingerprint = (($sha.ComputeHash($cert.RawData) | ForEach-Object { $_.ToString('X2') }) -join ':')
Write-Ok "exported $pemPath and $cerPath"
Write-Host "   thumbprint (SHA-1):   $($cert.Thumbprint)"
Write-Host "   fingerprint (SHA-256): $fingerprint"

# --- 2. Windows features -----------------------------------------------------------------------
if ($SkipFeatures) {
    Write-Step 'Windows features: skipped (-SkipFeatures)'
} else {
    Write-Step 'Windows features: Containers, Hyper-V'
    $cpu = @(Get-CimInstance -ClassName Win32_Processor)[0]
    $system = Get-CimInstance -ClassName Win32_ComputerSystem
    # HypervisorPresent is true in every VM, with or without nested virtualization, so it
    # proves nothing alone: Hyper-V runs already (installed, hypervisor present), or the
    # processor shows all three extensions (hardware, or a VM whose host exposes them:
    # nested virtualization).  Same rule as harness/windows/facts.py HostFacts.hyperv_capable.
    $extensions = $cpu.VirtualizationFirmwareEnabled -and $cpu.VMMonitorModeExtensions -and $cpu.SecondLevelAddressTranslationExtensions
    $hyperVInstalled = $false
    if (Get-Command -Name Get-WindowsFeature -ErrorAction SilentlyContinue) {
        $hyperVInstalled = (Get-WindowsFeature -Name 'Hyper-V').InstallState -eq 'Installed'
    }
    $canHyperV = ($system.HypervisorPresent -and $hyperVInstalled) -or $extensions
    $features = @('Containers')
    if ($canHyperV) {
        $features += 'Hyper-V'
    } else {
        if ($system.HypervisorPresent) {
            Write-Warning ('a virtual machine without nested virtualization: installing Containers alone; ' +
                'hyperv scenarios will skip: no nested virtualization.  To test them, turn this VM off and ' +
                'run ci/enable-nested-virtualization.ps1 -VMName <this VM> on its Hyper-V host, then run ' +
                'this script again.')
        } else {
            Write-Warning ('no virtualization extensions: Hyper-V cannot be installed, so hypervisor-isolated ' +
                'scenarios will be skipped.  Enable virtualization (VT-x/AMD-V) in the firmware.')
        }
    }
    if (Get-Command -Name Install-WindowsFeature -ErrorAction SilentlyContinue) {
        foreach ($name in $features) {
            $feature = Get-WindowsFeature -Name $name
            if ($feature.InstallState -eq 'Installed') {
                Write-Ok "$name is installed"
            } elseif ($feature.InstallState -eq 'InstallPending') {
                Write-Ok "$name is installed and waits for a restart"
                $restartNeeded = $true
            } else {
                $result = Install-WindowsFeature -Name $name -IncludeManagementTools
                if (-not $result.Success) {
                    throw "Install-WindowsFeature $name failed: $($result.ExitCode)"
                }
                Write-Change "$name installed ($($result.ExitCode))"
                if ($result.RestartNeeded -ne 'No') {
                    $restartNeeded = $true
                }
            }
        }
    } else {
        # Client editions have optional features instead (section 4.1).
        $optional = @($features | ForEach-Object { if ($_ -eq 'Hyper-V') { 'Microsoft-Hyper-V' } else { $_ } })
        foreach ($name in $optional) {
            $feature = Get-WindowsOptionalFeature -Online -FeatureName $name
            if ($feature.State -eq 'Enabled') {
                Write-Ok "$name is enabled"
            } else {
                $result = Enable-WindowsOptionalFeature -Online -FeatureName $name -All -NoRestart
                Write-Change "$name enabled"
                if ($result.RestartNeeded) {
                    $restartNeeded = $true
                }
            }
        }
    }
}

# --- 3. OpenSSH --------------------------------------------------------------------------------
if ($EnableSsh) {
    Write-Step 'OpenSSH server'
    $capability = Get-WindowsCapability -Online -Name 'OpenSSH.Server*' | Select-Object -First 1
    if (-not $capability) {
        throw 'this Windows offers no OpenSSH.Server capability (install Win32-OpenSSH by hand)'
    }
    if ($capability.State -eq 'Installed') {
        Write-Ok "$($capability.Name) is installed"
    } else {
        Add-WindowsCapability -Online -Name $capability.Name | Out-Null
        Write-Change "$($capability.Name) installed"
    }
    $sshd = Get-Service -Name sshd
    if ($sshd.StartType -ne 'Automatic') {
        Set-Service -Name sshd -StartupType Automatic
        Write-Change 'sshd starts automatically'
    }
    if ($sshd.Status -ne 'Running') {
        Start-Service -Name sshd
        Write-Change 'sshd started'
    } else {
        Write-Ok 'sshd is running'
    }
    Set-InboundRule -Name $SshRuleName -DisplayName 'hpc-e2e: OpenSSH server' -Port 22
    # hpc-e2e sends cmd.exe command lines over SSH, as over WinRS (docs/internals.md).
    $shell = Get-ItemProperty -Path 'HKLM:\SOFTWARE\OpenSSH' -Name DefaultShell -ErrorAction SilentlyContinue
    if ($shell -and $shell.DefaultShell -and $shell.DefaultShell -notmatch 'cmd\.exe$') {
        Write-Warning ("OpenSSH's DefaultShell is $($shell.DefaultShell); hpc-e2e needs cmd.exe.  Remove it with: " +
            "Remove-ItemProperty -Path HKLM:\SOFTWARE\OpenSSH -Name DefaultShell")
    } else {
        Write-Ok 'the default shell is cmd.exe'
    }
    if ($AuthorizedKey) {
        $key = $AuthorizedKey
        if (Test-Path -LiteralPath $AuthorizedKey -PathType Leaf) {
            $key = (Get-Content -LiteralPath $AuthorizedKey -Raw)
        }
        $key = $key.Trim()
        if ($key -notmatch '^(ssh-|ecdsa-|sk-)\S+ \S+') {
            throw "-AuthorizedKey is not an OpenSSH public key: $($key.Substring(0, [Math]::Min(30, $key.Length)))..."
        }
        $keysFile = Join-Path $env:ProgramData 'ssh\administrators_authorized_keys'
        $existing = ''
        if (Test-Path -LiteralPath $keysFile) {
            $existing = [IO.File]::ReadAllText($keysFile)
        }
        $present = @($existing -split "`r?`n" | ForEach-Object { $_.Trim() })
        if ($present -contains $key) {
            Write-Ok 'the key is in administrators_authorized_keys'
        } else {
            $separator = ''
            if ($existing -and -not $existing.EndsWith("`n")) {
                $separator = "`r`n"
            }
            [IO.File]::AppendAllText($keysFile, "$separator$key`r`n", (New-Object Text.ASCIIEncoding))
            Write-Change 'key added to administrators_authorized_keys'
        }
        # sshd ignores the file unless only Administrators and SYSTEM can touch it.
        & icacls.exe $keysFile /inheritance:r /grant '*S-1-5-32-544:F' /grant '*S-1-5-18:F' | Out-Null
        if ($LASTEXITCODE -ne 0) {
            throw "icacls failed on $keysFile (exit code $LASTEXITCODE)"
        }
    }
    $hostKey = Join-Path $env:ProgramData 'ssh\ssh_host_ed25519_key.pub'
    if (Test-Path -LiteralPath $hostKey) {
        $parts = (Get-Content -LiteralPath $hostKey -Raw).Trim() -split '\s+'
        Write-Host "   known_hosts line:     $HostName $($parts[0]) $($parts[1])"
    }
}

# --- 4. what to put in the inventory -----------------------------------------------------------
$inventoryName = ($env:COMPUTERNAME.ToLowerInvariant() -replace '[^a-z0-9_.-]', '-')
Write-Step 'Inventory entry for the controller'
Write-Host "   Copy $pemPath to the controller, beside the inventory, then:"
Write-Host ''
Write-Host "   [hosts.$inventoryName]"
Write-Host "   address = `"$HostName`""
Write-Host '   user = "Administrator"                 # a local administrator'
Write-Host '   password_env = "HPC_E2E_PASSWORD"'
Write-Host "   [hosts.$inventoryName.winrm]"
Write-Host "   ca_bundle = `"$baseName.pem`""
Write-Host "   [hosts.$inventoryName.labels]"
Write-Host "   os_build = $($os.CurrentBuild)"
if ($EnableSsh) {
    Write-Host ''
    Write-Host '   # or over SSH: transport = "ssh", [hosts.NAME.ssh] auth = "key", key_file, known_hosts'
}
Write-Host ''
Write-Host '   The PEM, to paste if copying files is awkward:'
Write-Host $pem

# --- 5. restart --------------------------------------------------------------------------------
if ($restartNeeded) {
    if ($NoRestart) {
        Write-Warning 'a restart is needed to finish installing features; restart before running hpc-e2e'
    } else {
        Write-Host 'restarting in 10 seconds to finish installing features (run again afterwards to check)'
        Start-Sleep -Seconds 10
        Restart-Computer -Force
    }
} else {
    Write-Host 'done; nothing waits for a restart'
}
