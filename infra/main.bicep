// adt-import-cancel: a Flex Consumption function app that cancels Azure Digital Twins
// import jobs, with keyless storage, one user-assigned identity and least-privilege roles.
// Deploy with `azd up`, or `az deployment group create -g <rg> -f infra/main.bicep -p ...`.
targetScope = 'resourceGroup'

@minLength(1)
@maxLength(64)
@description('Name of the environment; used to derive unique resource names (azd sets it).')
param environmentName string

@description('Region of every resource. Must offer Flex Consumption.')
param location string = resourceGroup().location

@description('Name of the existing Azure Digital Twins instance whose import jobs the app cancels. Ignored when createAdtInstance is true.')
param adtInstanceName string = ''

@description('Resource group of the existing ADT instance, if not this one.')
param adtResourceGroupName string = ''

@description('Create a new ADT instance in this resource group (for a trial environment) instead of using an existing one.')
param createAdtInstance bool = false

@description('Further ADT endpoints (https://<host>, comma-separated) that requests may name; the identity needs Data Owner there too, which this template does not grant.')
param adtAllowedEndpoints string = ''

@description('Maximum number of Flex Consumption instances (40-1000).')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Memory of each instance in MB.')
@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048

@description('Time budget of one cancel in seconds, retries included (CANCEL_DEADLINE_SECONDS).')
param cancelDeadlineSeconds int = 25

@description('ADT calls per operation of one cancel (CANCEL_MAX_ATTEMPTS).')
param cancelMaxAttempts int = 5

@description('Retry-After, in seconds, of a 202 while a job is in progress (STATUS_POLL_SECONDS).')
param statusPollSeconds int = 5

@description('Queue path: follow every cancel through to a final status unless the message says otherwise (FOLLOW_THROUGH_DEFAULT).')
param followThroughDefault bool = false

@description('Object id of the deploying user or group: gets the same storage roles, for local runs against Azure. Leave empty in production.')
param principalId string = ''

@description('Deploy a Logic App (Consumption) that cancels a job and waits until it is final.')
param deployLogicApp bool = false

@secure()
@description('Value of the function key the Logic App uses. The default is new on every deployment, which rotates it.')
param logicAppFunctionKey string = newGuid()

var adtResourceGroup = empty(adtResourceGroupName) ? resourceGroup().name : adtResourceGroupName
var resourceToken = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName))
var tags = { 'azd-env-name': environmentName }
var functionAppName = 'func-adtcancel-${resourceToken}'
var deploymentContainerName = 'app-package-${take(functionAppName, 32)}'

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-adtcancel-${resourceToken}'
  location: location
  tags: tags
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    name: 'stadtcancel${resourceToken}'
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
    identityPrincipalId: identity.properties.principalId
    userPrincipalId: principalId
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    logAnalyticsName: 'log-adtcancel-${resourceToken}'
    applicationInsightsName: 'appi-adtcancel-${resourceToken}'
    location: location
    tags: tags
    identityPrincipalId: identity.properties.principalId
  }
}

module newAdt 'modules/adt-instance.bicep' = if (createAdtInstance) {
  name: 'adt-instance'
  params: {
    name: 'dt-adtcancel-${resourceToken}'
    location: location
    tags: tags
    identityPrincipalId: identity.properties.principalId
  }
}

module existingAdtAccess 'modules/adt-access.bicep' = if (!createAdtInstance) {
  name: 'adt-access'
  scope: resourceGroup(adtResourceGroup)
  params: {
    adtInstanceName: adtInstanceName
    identityPrincipalId: identity.properties.principalId
  }
}

var adtHostName = createAdtInstance ? newAdt!.outputs.hostName : existingAdtAccess!.outputs.hostName

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  params: {
    name: functionAppName
    planName: 'plan-adtcancel-${resourceToken}'
    location: location
    tags: union(tags, { 'azd-service-name': 'api' })
    identityId: identity.id
    identityClientId: identity.properties.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    adtEndpoint: 'https://${adtHostName}'
    adtAllowedEndpoints: adtAllowedEndpoints
    cancelDeadlineSeconds: cancelDeadlineSeconds
    cancelMaxAttempts: cancelMaxAttempts
    statusPollSeconds: statusPollSeconds
    followThroughDefault: followThroughDefault
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    logicAppFunctionKey: deployLogicApp ? logicAppFunctionKey : ''
  }
}

module logicApp 'modules/logicapp.bicep' = if (deployLogicApp) {
  name: 'logicapp'
  params: {
    name: 'logic-adtcancel-${resourceToken}'
    location: location
    tags: tags
    functionAppHostName: functionApp.outputs.defaultHostName
    functionKey: logicAppFunctionKey
    queueWorkflowName: 'logic-adtcancel-queue-${resourceToken}'
    storageAccountName: storage.outputs.name
    requestsQueueName: 'import-cancel-requests'
  }
}

output AZURE_LOCATION string = location
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output FUNCTION_APP_URL string = 'https://${functionApp.outputs.defaultHostName}'
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output REQUESTS_QUEUE_URL string = '${storage.outputs.queueEndpoint}import-cancel-requests'
output ADT_ENDPOINT string = 'https://${adtHostName}'
output AZURE_CLIENT_ID string = identity.properties.clientId
output LOGIC_APP_NAME string = deployLogicApp ? logicApp!.outputs.name : ''
output LOGIC_APP_QUEUE_NAME string = deployLogicApp ? logicApp!.outputs.queueWorkflowName : ''
