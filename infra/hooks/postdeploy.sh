#!/usr/bin/env bash
# azd postdeploy hook (posix). With DEPLOY_LOGIC_APP=true, create the function key the Logic
# App uses, now that the host runs with code (creating it while provisioning fails on Flex
# Consumption: azure-functions-host issue 11379). The key opens the cancel function only,
# which also serves the Location the Logic App polls. A host that is still starting answers
# an error, so the call is retried a bounded number of times.
set -euo pipefail

if [ "$(printf '%s' "${DEPLOY_LOGIC_APP:-false}" | tr '[:upper:]' '[:lower:]')" != "true" ]; then
  exit 0
fi
: "${AZURE_RESOURCE_GROUP:?postdeploy: AZURE_RESOURCE_GROUP is not set in the azd environment}"
: "${AZURE_FUNCTION_APP_NAME:?postdeploy: AZURE_FUNCTION_APP_NAME is not set (run azd provision first)}"
: "${LOGIC_APP_FUNCTION_KEY:?postdeploy: LOGIC_APP_FUNCTION_KEY is not set (the preprovision hook makes it)}"

function_name="cancel_import_job_http"
key_name="logicapp"
attempts="${KEY_ATTEMPTS:-10}"
pause="${KEY_RETRY_SECONDS:-15}"

for attempt in $(seq 1 "$attempts"); do
  if error=$(az functionapp function keys set \
      --resource-group "$AZURE_RESOURCE_GROUP" \
      --name "$AZURE_FUNCTION_APP_NAME" \
      --function-name "$function_name" \
      --key-name "$key_name" \
      --key-value "$LOGIC_APP_FUNCTION_KEY" \
      --output none 2>&1); then
    echo "postdeploy: function key '$key_name' of $function_name is in place (attempt $attempt of $attempts)"
    exit 0
  fi
  # Whatever az said, without the key's value.
  echo "postdeploy: attempt $attempt of $attempts failed: ${error//$LOGIC_APP_FUNCTION_KEY/***}" >&2
  if [ "$attempt" -lt "$attempts" ]; then
    sleep "$pause"
  fi
done
echo "postdeploy: could not create function key '$key_name' after $attempts attempts; the Logic App answers 401 until it exists. Run 'azd hooks run postdeploy' to try again." >&2
exit 1
