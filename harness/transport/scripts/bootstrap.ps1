# hpc-e2e bootstrap (docs/internals.md "Remote command contract"): stdin line 1 is
# base64(UTF-8 JSON {name, sha256, script, args}); the rest of stdin belongs to the script.
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
function Get-HpcE2EHex([byte[]]$Bytes) {
    [BitConverter]::ToString($Bytes).Replace('-', '').ToLowerInvariant()
}
function Write-HpcE2EResult($Value) {
    $json = ConvertTo-Json -InputObject $Value -Compress -Depth 8
    [Console]::Out.Write('##hpc-e2e-result ' + $json + "`r`n")
    [Console]::Out.Flush()
}
$name = 'bootstrap'
try {
    $line = [Console]::In.ReadLine()
    if (-not $line) { throw 'no script header on stdin' }
    $text = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($line.Trim()))
    $header = ConvertFrom-Json -InputObject $text
    $name = [string]$header.name
    $bytes = [Convert]::FromBase64String($header.script)
    $hash = Get-HpcE2EHex ([Security.Cryptography.SHA256]::Create().ComputeHash($bytes))
    if ($hash -ne $header.sha256) {
        throw "sha256 of the script text is $hash, the header says $($header.sha256)"
    }
    $block = [ScriptBlock]::Create([Text.Encoding]::UTF8.GetString($bytes))
    $params = @{}
    if ($null -ne $header.args) {
        foreach ($p in $header.args.PSObject.Properties) { $params[$p.Name] = $p.Value }
    }
    & $block @params
    exit 0
} catch {
    [Console]::Error.Write("hpc-e2e: ${name}: $($_.Exception.Message)`r`n")
    exit 1
}
