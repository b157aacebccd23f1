# azd preprovision hook (Windows): as preprovision.sh. With VNET_ENABLED=true, check that the
# Microsoft.App resource provider is registered, register it when missing and wait; or stop
# before anything is deployed, saying what to do. azd's own token, never printed; no az.
$ErrorActionPreference = 'Stop'
if ($env:VNET_ENABLED -ne 'true') { exit 0 }
if (-not $env:AZURE_SUBSCRIPTION_ID) { Write-Error 'AZURE_SUBSCRIPTION_ID is not set'; exit 1 }
$attempts = if ($env:PROVIDER_ATTEMPTS) { [int]$env:PROVIDER_ATTEMPTS } else { 30 }
$pause = if ($env:PROVIDER_RETRY_SECONDS) { [int]$env:PROVIDER_RETRY_SECONDS } else { 10 }
$provider = "https://management.azure.com/subscriptions/$($env:AZURE_SUBSCRIPTION_ID)/providers/Microsoft.App"
$api = 'api-version=2021-04-01'
$token = (azd auth token --scope https://management.azure.com/.default --output json | ConvertFrom-Json).token
if (-not $token) { Write-Error 'no token from azd auth token; run azd auth login'; exit 1 }
$headers = @{ Authorization = "Bearer $token" }
function Get-State { (Invoke-RestMethod -Headers $headers -Uri "$($provider)?$api").registrationState }
$current = Get-State
if ($current -eq 'Registered') { exit 0 }
Write-Host "VNET_ENABLED needs the Microsoft.App resource provider (now: $current); registering it"
try {
  Invoke-RestMethod -Method Post -Headers $headers -Uri "$provider/register?$api" | Out-Null
} catch {
  Write-Error ("registering Microsoft.App was refused: someone with rights on the subscription runs: " +
    "az provider register --namespace Microsoft.App; then azd provision again")
  exit 1
}
for ($i = 0; $i -lt $attempts; $i++) {
  $current = Get-State
  if ($current -eq 'Registered') { Write-Host 'Microsoft.App is registered'; exit 0 }
  Start-Sleep -Seconds $pause
}
Write-Error "Microsoft.App is still $current after $attempts checks; run azd provision again once it is Registered"
exit 1
