# azd preprovision hook (Windows). Same as preprovision.sh: with DEPLOY_LOGIC_APP=true, make
# the value of the Logic App's function key once and keep it in the azd environment
# (LOGIC_APP_FUNCTION_KEY); postdeploy.ps1 creates the key once the host runs with code.
$ErrorActionPreference = 'Stop'

if ("$env:DEPLOY_LOGIC_APP".ToLowerInvariant() -ne 'true') { exit 0 }
if ($env:LOGIC_APP_FUNCTION_KEY) {
    Write-Host "preprovision: the Logic App's function key is already set in the azd environment"
    exit 0
}
# 48 characters from [A-Za-z0-9], from a cryptographic generator.
$alphabet = [char[]]'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'
$bytes = New-Object byte[] 48
[System.Security.Cryptography.RandomNumberGenerator]::Create().GetBytes($bytes)
$key = -join ($bytes | ForEach-Object { $alphabet[$_ % $alphabet.Length] })
azd env set LOGIC_APP_FUNCTION_KEY $key
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
Write-Host "preprovision: generated the Logic App's function key (LOGIC_APP_FUNCTION_KEY in the azd environment)"
