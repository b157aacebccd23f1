# azd postdeploy hook (Windows). Same as postdeploy.sh: with DEPLOY_LOGIC_APP=true, create the
# Logic App's function key on the cancel function now that the host runs with code, retrying
# a bounded number of times while the host starts.
$ErrorActionPreference = 'Stop'

if ("$env:DEPLOY_LOGIC_APP".ToLowerInvariant() -ne 'true') { exit 0 }
foreach ($name in 'AZURE_RESOURCE_GROUP', 'AZURE_FUNCTION_APP_NAME', 'LOGIC_APP_FUNCTION_KEY') {
    if (-not [Environment]::GetEnvironmentVariable($name)) {
        Write-Error "postdeploy: $name is not set in the azd environment"
        exit 1
    }
}

$functionName = 'cancel_import_job_http'
$keyName = 'logicapp'
$attempts = if ($env:KEY_ATTEMPTS) { [int]$env:KEY_ATTEMPTS } else { 10 }
$pause = if ($env:KEY_RETRY_SECONDS) { [int]$env:KEY_RETRY_SECONDS } else { 15 }

# az writes its errors to stderr: collected, not thrown, whichever PowerShell runs this.
$ErrorActionPreference = 'Continue'
for ($attempt = 1; $attempt -le $attempts; $attempt++) {
    $output = az functionapp function keys set `
        --resource-group $env:AZURE_RESOURCE_GROUP `
        --name $env:AZURE_FUNCTION_APP_NAME `
        --function-name $functionName `
        --key-name $keyName `
        --key-value $env:LOGIC_APP_FUNCTION_KEY `
        --output none 2>&1
    if ($LASTEXITCODE -eq 0) {
        Write-Host "postdeploy: function key '$keyName' of $functionName is in place (attempt $attempt of $attempts)"
        exit 0
    }
    # Whatever az said, without the key's value.
    $said = "$output".Replace($env:LOGIC_APP_FUNCTION_KEY, '***')
    Write-Host "postdeploy: attempt $attempt of $attempts failed: $said"
    if ($attempt -lt $attempts) { Start-Sleep -Seconds $pause }
}
Write-Host "postdeploy: could not create function key '$keyName' after $attempts attempts; the Logic App answers 401 until it exists. Run 'azd hooks run postdeploy' to try again."
exit 1
