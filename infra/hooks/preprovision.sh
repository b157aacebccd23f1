#!/usr/bin/env bash
# azd preprovision hook (posix). With DEPLOY_LOGIC_APP=true, the Logic App authenticates to
# the cancel function with a function key. Flex Consumption cannot create keys before code
# is deployed (azure-functions-host issue 11379), so the key is made in two steps: its value
# here, kept in the azd environment (LOGIC_APP_FUNCTION_KEY) so that provisioning hands it
# to the Logic App, and the key itself after deploy (postdeploy.sh). The value never leaves
# the azd environment and is never printed.
set -euo pipefail

if [ "$(printf '%s' "${DEPLOY_LOGIC_APP:-false}" | tr '[:upper:]' '[:lower:]')" != "true" ]; then
  exit 0
fi
if [ -n "${LOGIC_APP_FUNCTION_KEY:-}" ]; then
  echo "preprovision: the Logic App's function key is already set in the azd environment"
  exit 0
fi
# 48 characters from [A-Za-z0-9]: about 285 bits, and nothing that needs escaping in a URL.
key=$(LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c 48 || true)
if [ "${#key}" -ne 48 ]; then
  echo "preprovision: could not generate the Logic App's function key" >&2
  exit 1
fi
azd env set LOGIC_APP_FUNCTION_KEY "$key"
echo "preprovision: generated the Logic App's function key (LOGIC_APP_FUNCTION_KEY in the azd environment)"
