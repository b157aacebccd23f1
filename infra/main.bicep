// adt-import-cancel: a Flex Consumption function app that cancels Azure Digital Twins
// import jobs, with keyless storage, one user-assigned identity and least-privilege roles.
// Deploy with `azd up`, or `az deployment group create -g <rg> -f infra/main.bicep -p ...`.
//
// This file holds parameters, the choices made from them and module calls; every resource
// is in a module. IaC scanners whose Bicep parser does not know fail() (checkov 3.3's pycep)
// cannot read this file, and lose nothing by it: they scan each module.
targetScope = 'resourceGroup'

@minLength(1)
@maxLength(64)
@description('Name of the environment; used to derive unique resource names (azd sets it).')
param environmentName string

@description('Region of every resource. Must offer Flex Consumption.')
param location string = resourceGroup().location

@description('Which ADT instance the app cancels import jobs on. \'existing\': one you already have; also set ADT_INSTANCE_NAME and ADT_RESOURCE_GROUP (a resource group other than this one, which `azd down` deletes). \'new\': a trial instance created in this resource group and deleted with it. azd asks when ADT_INSTANCE_MODE is not set.')
@allowed(['existing', 'new'])
param adtInstanceMode string

@description('Name of the existing ADT instance (ADT_INSTANCE_NAME). Required when adtInstanceMode is \'existing\'.')
param adtInstanceName string = ''

@description('Resource group of the existing ADT instance (ADT_RESOURCE_GROUP). Required when adtInstanceMode is \'existing\', and must not be this resource group unless allowAdtInAppResourceGroup is true.')
param adtResourceGroupName string = ''

@description('Accept an existing ADT instance in this resource group (ADT_IN_APP_RESOURCE_GROUP). `azd down` deletes the whole group, the instance included.')
param allowAdtInAppResourceGroup bool = false

@description('Role of the app on the ADT instance (ADT_ROLE). \'custom\': a custom role with only the import-job read and cancel data actions (creating it needs Owner or User Access Administrator on the instance\'s resource group). \'dataOwner\': the built-in Azure Digital Twins Data Owner, for tenants that do not allow custom roles.')
@allowed(['custom', 'dataOwner'])
param adtRole string = 'custom'

@description('Further ADT endpoints (https://<host>, comma-separated) that requests may name; the identity needs a role that can read and cancel import jobs there too, which this template does not grant.')
param adtAllowedEndpoints string = ''

@description('Most on-demand instances of each per-function scale group (MAXIMUM_INSTANCE_COUNT, 1-1000). 10: ADT serves about one cancel a second per instance however many processes ask. Some regions refuse values below 40; see docs/deploy.md.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 10

@description('Memory of each instance in MB (INSTANCE_MEMORY_MB). 512: the Python worker peaks at about 77 MB under load, see docs/deploy.md.')
@allowed([512, 2048, 4096])
param instanceMemoryMB int = 512

@description('Private networking (VNET_ENABLED): outbound VNet integration for the app, storage reachable only through private endpoints, and ADT through one when it is new or adtPrivateEndpoint is true. See docs/deploy.md for what changes.')
param vnetEnabled bool = false

@description('With vnetEnabled: public IP addresses or CIDR ranges, comma-separated, that may still reach the storage account (STORAGE_ALLOWED_IPS), such as a developer\'s or an operator\'s workstation for the ops CLI. Empty: storage has no public access at all.')
param storageAllowedIpAddresses string = ''

@description('With vnetEnabled and an existing ADT instance: give it a private endpoint in this VNet too (ADT_PRIVATE_ENDPOINT). Its public network access is left as it is: the instance is not this deployment\'s.')
param adtPrivateEndpoint bool = false

@description('With adtPrivateEndpoint: approve the existing instance\'s endpoint with the deployer\'s own right on the instance (ADT_PRIVATE_ENDPOINT_AUTO_APPROVE). Off: the connection waits, pending, for the instance\'s owner to approve it (docs/deploy.md); without that right, automatic approval fails with LinkedAuthorizationFailed.')
param adtPrivateEndpointAutoApprove bool = false

@description('Storage redundancy (STORAGE_SKU). Standard_LRS keeps three copies in one datacenter: in a zone outage the queues, and with them every request, result and failure record, are unreachable until it ends. Standard_ZRS keeps them in three zones and stays available.')
@allowed(['Standard_LRS', 'Standard_ZRS'])
param storageSku string = 'Standard_LRS'

@description('Zone redundancy (ZONE_REDUNDANT): the Flex plan spreads its instances over availability zones, with zone-redundant storage (Standard_ZRS, whatever STORAGE_SKU says). The platform then keeps at least 2 always-ready instances per scale group, billed as such: the app no longer scales to zero.')
param zoneRedundant bool = false

@description('HTTP requests one instance takes at once (HTTP_PER_INSTANCE_CONCURRENCY). Set explicitly, not left to a default that depends on language and memory; see docs/deploy.md.')
@minValue(1)
@maxValue(1000)
param httpPerInstanceConcurrency int = 16

@description('Time budget of one cancel in seconds, retries included (CANCEL_DEADLINE_SECONDS).')
param cancelDeadlineSeconds int = 25

@description('ADT calls per operation of one cancel (CANCEL_MAX_ATTEMPTS).')
param cancelMaxAttempts int = 5

@description('Retry-After, in seconds, of a 202 while a job is in progress (STATUS_POLL_SECONDS).')
param statusPollSeconds int = 5

@description('Queue path: follow every cancel through to a final status unless the message says otherwise (FOLLOW_THROUGH_DEFAULT).')
param followThroughDefault bool = false

@description('Object id of the deploying principal (azd: AZURE_PRINCIPAL_ID): gets Storage Queue Data Contributor, to send and read messages from a workstation. Leave empty in production.')
param principalId string = ''

@description('Type of principalId (azd: AZURE_PRINCIPAL_TYPE): User, or ServicePrincipal when azd runs in CI. ARM rejects an assignment whose type does not match.')
@allowed(['User', 'ServicePrincipal', 'Group'])
param principalType string = 'User'

@description('Operators (typically an Entra group, OPERATORS_PRINCIPAL_ID): they get the app\'s least-privilege ADT role and the queue role the ops CLI needs (cancel, status, enqueue, results, failures, redrive). Empty: none.')
param operatorsPrincipalId string = ''

@description('Type of operatorsPrincipalId (OPERATORS_PRINCIPAL_TYPE).')
@allowed(['Group', 'User', 'ServicePrincipal'])
param operatorsPrincipalType string = 'Group'

@description('E-mail address the alert on failed cancels notifies (ALERT_EMAIL). Empty: the alert fires in the portal only.')
param alertEmail string = ''

@description('Deploy a Logic App (Consumption) that cancels a job and waits until it is final. It signs in with its managed identity, which joins the API\'s allow-list.')
param deployLogicApp bool = false

@description('Audience HTTP callers\' Entra tokens must carry (API_AUDIENCE). The default needs no app registration; a dedicated registration\'s Application ID URI is tighter (then set apiClientId too). See docs/deploy.md.')
param apiAudience string = 'https://management.azure.com'

@description('Client id of a dedicated app registration for the API (API_CLIENT_ID). Empty: the app\'s own identity\'s, which needs no registration.')
param apiClientId string = ''

@description('Object ids of further HTTP callers, comma-separated (API_CALLER_OBJECT_IDS): managed identities, service principals or people. The deploying principal and the Logic App are added by themselves.')
param apiCallerObjectIds string = ''

@description('Application (client) ids, comma-separated (API_CALLER_APP_IDS). When set, a caller must be on this list as well as on the object-id list, so set it only when every caller is an application.')
param apiCallerAppIds string = ''

var resourceToken = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName))
var tags = { 'azd-env-name': environmentName }
var functionAppName = 'func-adtcancel-${resourceToken}'
var deploymentContainerName = 'app-package-${take(functionAppName, 32)}'

module identity 'modules/identity.bicep' = {
  name: 'identity'
  params: {
    name: 'id-adtcancel-${resourceToken}'
    location: location
    tags: tags
  }
}

module network 'modules/network.bicep' = if (vnetEnabled) {
  name: 'network'
  params: {
    name: 'vnet-adtcancel-${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    name: 'stadtcancel${resourceToken}'
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
    identityPrincipalId: identity.outputs.principalId
    userPrincipalId: principalId
    userPrincipalType: principalType
    operatorsPrincipalId: operatorsPrincipalId
    operatorsPrincipalType: operatorsPrincipalType
    skuName: zoneRedundant ? 'Standard_ZRS' : storageSku
    privateOnly: vnetEnabled
    allowedIpAddresses: empty(storageAllowedIpAddresses) ? [] : map(split(storageAllowedIpAddresses, ','), ip => trim(ip))
  }
}

// The host uses blobs (package, leases), queues (the trigger and outputs) and tables
// (diagnostic events): each gets an endpoint and a DNS zone.
var storageServices = ['blob', 'queue', 'table']

module storageEndpoints 'modules/private-endpoint.bicep' = [for service in storageServices: if (vnetEnabled) {
  name: 'pe-storage-${service}'
  params: {
    name: 'pe-${service}-adtcancel-${resourceToken}'
    location: location
    tags: tags
    subnetId: network!.outputs.privateEndpointsSubnetId
    vnetId: network!.outputs.id
    serviceId: storage.outputs.id
    groupId: service
    dnsZoneName: 'privatelink.${service}.${environment().suffixes.storage}'
  }
}]

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    logAnalyticsName: 'log-adtcancel-${resourceToken}'
    applicationInsightsName: 'appi-adtcancel-${resourceToken}'
    location: location
    tags: tags
    identityPrincipalId: identity.outputs.principalId
  }
}

// The ADT choice is checked before anything is deployed: the instance's name and resource
// group are part of the adtAccess deployment's id, which ARM evaluates while validating
// the template, so fail() stops the deployment there with a message that says what to set.
var existingAdt = adtInstanceMode == 'existing'
var adtGroupIsAppGroup = empty(adtResourceGroupName) || toLower(adtResourceGroupName) == toLower(resourceGroup().name)
var adtName = existingAdt ? (empty(adtInstanceName) ? fail('adtInstanceMode is \'existing\': set ADT_INSTANCE_NAME (adtInstanceName) to the name of the ADT instance.') : adtInstanceName) : 'dt-adtcancel-${resourceToken}'
var adtResourceGroup = existingAdt ? (adtGroupIsAppGroup && !allowAdtInAppResourceGroup ? fail('adtInstanceMode is \'existing\': set ADT_RESOURCE_GROUP (adtResourceGroupName) to the instance\'s resource group, which must not be this one: `azd down` deletes this resource group and everything in it. To accept that, set ADT_IN_APP_RESOURCE_GROUP=true (allowAdtInAppResourceGroup).') : (empty(adtResourceGroupName) ? resourceGroup().name : adtResourceGroupName)) : resourceGroup().name

module newAdt 'modules/adt-instance.bicep' = if (!existingAdt) {
  name: 'adt-instance'
  params: {
    name: adtName
    location: location
    tags: tags
    // A new instance in a private deployment answers only its private endpoint.
    publicNetworkAccess: vnetEnabled ? 'Disabled' : 'Enabled'
  }
}

// ADT's private endpoint: always for a new instance when private, for an existing one when asked.
var adtGetsPrivateEndpoint = vnetEnabled && (!existingAdt || adtPrivateEndpoint)

module adtEndpoint 'modules/private-endpoint.bicep' = if (adtGetsPrivateEndpoint) {
  name: 'pe-adt'
  params: {
    name: 'pe-adt-adtcancel-${resourceToken}'
    location: location
    tags: tags
    subnetId: network!.outputs.privateEndpointsSubnetId
    vnetId: network!.outputs.id
    serviceId: resourceId(adtResourceGroup, 'Microsoft.DigitalTwins/digitalTwinsInstances', adtName)
    groupId: 'API'
    dnsZoneName: 'privatelink.digitaltwins.azure.net'
    // A new instance is this deployment's; an existing one's owner approves, unless asked otherwise.
    manualApproval: existingAdt && !adtPrivateEndpointAutoApprove
  }
  dependsOn: [
    newAdt
  ]
}

module adtAccess 'modules/adt-access.bicep' = {
  name: 'adt-access'
  scope: resourceGroup(adtResourceGroup)
  params: {
    adtInstanceName: adtName
    identityPrincipalId: identity.outputs.principalId
    adtRole: adtRole
    operatorsPrincipalId: operatorsPrincipalId
    operatorsPrincipalType: operatorsPrincipalType
  }
  dependsOn: [
    newAdt
  ]
}

var adtHostName = adtAccess.outputs.hostName

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  params: {
    name: functionAppName
    planName: 'plan-adtcancel-${resourceToken}'
    location: location
    tags: union(tags, { 'azd-service-name': 'api' })
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
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
    zoneRedundant: zoneRedundant
    httpPerInstanceConcurrency: httpPerInstanceConcurrency
    virtualNetworkSubnetId: vnetEnabled ? network!.outputs.appSubnetId : ''
  }
  // With private storage the host starts only once it can reach storage privately.
  dependsOn: [
    storageEndpoints
  ]
}

module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  params: {
    namePrefix: 'adtcancel-${resourceToken}'
    location: location
    tags: tags
    applicationInsightsId: monitoring.outputs.applicationInsightsId
    alertEmail: alertEmail
  }
}

module logicApp 'modules/logicapp.bicep' = if (deployLogicApp) {
  name: 'logicapp'
  params: {
    name: 'logic-adtcancel-${resourceToken}'
    location: location
    tags: tags
    functionAppHostName: functionApp.outputs.defaultHostName
    // The HTTP action signs in with the workflow's managed identity for this audience.
    apiAudience: apiAudience
    // Consumption Logic Apps run outside any VNet and cannot reach storage that accepts
    // only private endpoints: with vnetEnabled the queue workflow is left out, and the
    // HTTP workflow (which reaches the app's public route) is the way in.
    deployQueueWorkflow: !vnetEnabled
    queueWorkflowName: 'logic-adtcancel-queue-${resourceToken}'
    storageAccountName: storage.outputs.name
    requestsQueueName: 'import-cancel-requests'
  }
}

module workbook 'modules/workbook.bicep' = {
  name: 'workbook'
  params: {
    location: location
    tags: tags
    applicationInsightsId: monitoring.outputs.applicationInsightsId
    storageAccountId: storage.outputs.id
    functionAppId: functionApp.outputs.id
  }
}

// Who may call the HTTP API: the named callers, the deploying principal (empty in CI-only
// production) and the Logic App's managed identity. Duplicates are dropped (union).
var listedCallers = empty(apiCallerObjectIds) ? [] : map(split(apiCallerObjectIds, ','), id => trim(id))
var apiCallers = union(
  listedCallers,
  empty(principalId) ? [] : [principalId],
  deployLogicApp ? [logicApp!.outputs.principalId] : []
)

module appAuth 'modules/app-auth.bicep' = {
  name: 'app-auth'
  params: {
    functionAppName: functionApp.outputs.name
    audience: apiAudience
    clientId: empty(apiClientId) ? identity.outputs.clientId : apiClientId
    allowedObjectIds: apiCallers
    allowedApplicationIds: empty(apiCallerAppIds) ? [] : map(split(apiCallerAppIds, ','), id => trim(id))
  }
}

output AZURE_LOCATION string = location
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output FUNCTION_APP_URL string = 'https://${functionApp.outputs.defaultHostName}'
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output REQUESTS_QUEUE_URL string = '${storage.outputs.queueEndpoint}import-cancel-requests'
output ADT_ENDPOINT string = 'https://${adtHostName}'
output AZURE_CLIENT_ID string = identity.outputs.clientId
output ADT_ROLE_DEFINITION_ID string = adtAccess.outputs.roleDefinitionId
output FAILED_CANCELS_ALERT_NAME string = alerts.outputs.alertName
output LOGIC_APP_NAME string = deployLogicApp ? logicApp!.outputs.name : ''
output LOGIC_APP_QUEUE_NAME string = deployLogicApp && !vnetEnabled ? logicApp!.outputs.queueWorkflowName : ''
output WORKBOOK_ID string = workbook.outputs.id
output API_AUDIENCE string = appAuth.outputs.audience
output VNET_NAME string = vnetEnabled ? 'vnet-adtcancel-${resourceToken}' : ''
