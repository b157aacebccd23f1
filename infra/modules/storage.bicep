// Storage for the host, the deployment package and the app's queues. Keyless: shared-key
// access is off, so everything authenticates with Entra ID.

@description('Storage account name (3-24 lowercase letters and digits).')
param name string
param location string
param tags object = {}

@description('Blob container that holds the deployment package (Flex Consumption).')
param deploymentContainerName string

@description('Principal id of the function app\'s user-assigned identity.')
param identityPrincipalId string

@description('Optional principal id of a developer or pipeline, given Storage Queue Data Contributor to send and read messages.')
param userPrincipalId string = ''

@description('Type of userPrincipalId: ARM rejects an assignment whose principalType does not match (UnmatchedPrincipalType).')
@allowed(['User', 'ServicePrincipal', 'Group'])
param userPrincipalType string = 'User'

@description('Operators (typically a group): the queue role the ops CLI needs (enqueue, results, failures, redrive). Empty: none.')
param operatorsPrincipalId string = ''

@allowed(['Group', 'User', 'ServicePrincipal'])
param operatorsPrincipalType string = 'Group'

@description('Redundancy: Standard_LRS (three copies in one datacenter) or Standard_ZRS (across three availability zones, so the queues stay readable and writable through a zone outage).')
@allowed(['Standard_LRS', 'Standard_ZRS'])
param skuName string = 'Standard_LRS'

@description('Private networking: the account answers only its private endpoints (and allowedIpAddresses).')
param privateOnly bool = false

@description('With privateOnly: public IP addresses or CIDR ranges that may still reach the account (a developer\'s or an operator\'s workstation). Empty: public network access is disabled.')
param allowedIpAddresses array = []

// Built-in role definitions (ids are the same in every tenant).
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
}

// The trigger's queue, its poison queue and the two output queues. Creating them here means
// the identity never needs to create queues at run time.
var queueNames = [
  'import-cancel-requests'
  'import-cancel-results'
  'import-cancel-failures'
  'import-cancel-requests-poison'
]

var allowedIpRules = [for ip in allowedIpAddresses: {
  value: ip
  action: 'Allow'
}]
var privateAcls = {
  defaultAction: 'Deny'
  bypass: 'None'
  ipRules: allowedIpRules
}
var openAcls = {
  defaultAction: 'Allow'
  bypass: 'AzureServices'
}

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: skuName }
  properties: {
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    defaultToOAuthAuthentication: true
    // Private: only the private endpoints, plus any allowed IP address through the firewall.
    publicNetworkAccess: privateOnly && empty(allowedIpAddresses) ? 'Disabled' : 'Enabled'
    networkAcls: privateOnly ? privateAcls : openAcls
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: { publicAccess: 'None' }
}

// The fleet's shared pacing state: one small JSON blob per ADT instance (cancel_job/pacing_store.py).
// The app's identity (Blob Data Owner) would create it too; creating it here saves the first cancel a call.
resource pacingContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: 'adt-pacing'
  properties: { publicAccess: 'None' }
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource queues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [for queueName in queueNames: {
  parent: queueService
  name: queueName
}]

// Blob Data Owner: host storage and the deployment package. Queue Data Contributor: the
// trigger updates and deletes messages and the outputs add them (Reader plus Message
// Processor cannot put a failed message back). Table Data Contributor: host 4.1038 and later
// write diagnostic events to a table in AzureWebJobsStorage and log a 403 every ten minutes
// without it (azure-functions-host#10995).
var identityRoles = [
  roles.storageBlobDataOwner
  roles.storageQueueDataContributor
  roles.storageTableDataContributor
]

resource identityRoleAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for roleId in identityRoles: {
  name: guid(account.id, identityPrincipalId, roleId)
  scope: account
  properties: {
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
  }
}]

// The developer (or the pipeline's principal) works with the queues only: the host's blobs
// and tables are the app's business.
resource userQueueAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(userPrincipalId)) {
  name: guid(account.id, userPrincipalId, roles.storageQueueDataContributor)
  scope: account
  properties: {
    principalId: userPrincipalId
    principalType: userPrincipalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataContributor)
  }
}

// Operators read, drain and re-drive the queues with the ops CLI: receive, update, delete
// and send, which Queue Data Contributor covers (Reader and Sender do not). When the
// operators are the deployer (OPERATORS_PRINCIPAL_ID = AZURE_PRINCIPAL_ID), the deployer's
// assignment above is the same one: a second with the same name would fail the deployment.
resource operatorsQueueAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(operatorsPrincipalId) && operatorsPrincipalId != userPrincipalId) {
  name: guid(account.id, operatorsPrincipalId, roles.storageQueueDataContributor)
  scope: account
  properties: {
    principalId: operatorsPrincipalId
    principalType: operatorsPrincipalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataContributor)
  }
}

output name string = account.name
output id string = account.id
output blobEndpoint string = account.properties.primaryEndpoints.blob
output queueEndpoint string = account.properties.primaryEndpoints.queue
