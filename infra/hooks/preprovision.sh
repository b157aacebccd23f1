#!/bin/sh
# azd preprovision hook: with VNET_ENABLED=true, Flex Consumption's VNet integration needs the
# Microsoft.App resource provider registered in the subscription, which a fresh subscription
# may not have (the deployment would then fail on the function app). Check it, register it
# when missing, and wait until it is registered; or stop before anything is deployed, saying
# what to do. Uses azd's own sign-in (azd auth token) and ARM's REST API: no az, no secret,
# and the token is never printed.
set -eu

[ "${VNET_ENABLED:-false}" = "true" ] || exit 0
subscription="${AZURE_SUBSCRIPTION_ID:?AZURE_SUBSCRIPTION_ID is not set}"
attempts="${PROVIDER_ATTEMPTS:-30}"
pause="${PROVIDER_RETRY_SECONDS:-10}"
provider="https://management.azure.com/subscriptions/$subscription/providers/Microsoft.App"
api="api-version=2021-04-01"

token=$(azd auth token --scope https://management.azure.com/.default --output json \
  | sed -n 's/.*"token"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p')
if [ -z "$token" ]; then
  echo "error: no token from azd auth token; run azd auth login" >&2
  exit 1
fi

state() {
  curl -sS -H "Authorization: Bearer $token" "$provider?$api" \
    | sed -n 's/.*"registrationState"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p'
}

current=$(state)
[ "$current" = "Registered" ] && exit 0
echo "VNET_ENABLED needs the Microsoft.App resource provider (now: ${current:-unknown}); registering it"
answer=$(curl -sS -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $token" \
  -H "Content-Length: 0" "$provider/register?$api")
if [ "$answer" != "200" ]; then
  echo "error: registering Microsoft.App was refused (HTTP $answer): someone with rights on the" \
    "subscription runs: az provider register --namespace Microsoft.App; then azd provision again" >&2
  exit 1
fi
i=0
while [ "$i" -lt "$attempts" ]; do
  current=$(state)
  [ "$current" = "Registered" ] && { echo "Microsoft.App is registered"; exit 0; }
  i=$((i + 1))
  sleep "$pause"
done
echo "error: Microsoft.App is still ${current:-unknown} after $attempts checks; run azd provision again" \
  "once 'az provider show --namespace Microsoft.App --query registrationState' says Registered" >&2
exit 1
