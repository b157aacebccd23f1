// The function app's identity gets what it needs on the ADT instance, and nothing more:
// by default a custom role with exactly the two data actions the app uses (read and cancel
// import jobs), defined in the instance's resource group and assigned on the instance.
// Tenants that do not allow custom roles pass adtRole 'dataOwner' for the built-in Azure
// Digital Twins Data Owner, which also grants digitaltwins/*, models/*, eventroutes/*,
// jobs/* and query/*. Deployed at the instance's resource group (this module's scope).
//
// Creating the custom role needs Microsoft.Authorization/roleDefinitions/write on that
// resource group (Owner or User Access Administrator); assigning either role needs
// Microsoft.Authorization/roleAssignments/write.

@description('Name of the ADT instance, in this module\'s resource group.')
param adtInstanceName string

@description('Principal id of the function app\'s user-assigned identity.')
param identityPrincipalId string

@description('\'custom\': a role with only the import-job read and cancel data actions. \'dataOwner\': the built-in Azure Digital Twins Data Owner.')
@allowed(['custom', 'dataOwner'])
param adtRole string = 'custom'

@description('Operators (typically a group) who cancel and read import jobs with the ops CLI: the same role as the app. Empty: none.')
param operatorsPrincipalId string = ''

@allowed(['Group', 'User', 'ServicePrincipal'])
param operatorsPrincipalType string = 'Group'

var adtDataOwner = 'bcd981a7-7f74-457b-83e1-cceb9e632ffe'

// The data actions of cancel_job/contract.py ADT_DATA_ACTIONS (tests/test_infra.py). Both read
// names: the provider lists jobs/import/read (older) and jobs/imports/read, and which one the
// data plane checks on a GET is not documented; both are reads.
var importJobDataActions = [
  'Microsoft.DigitalTwins/jobs/imports/read'
  'Microsoft.DigitalTwins/jobs/import/read'
  'Microsoft.DigitalTwins/jobs/imports/cancel/action'
]

var customRoleName = guid(resourceGroup().id, 'adt-import-cancel', 'import-job-canceller')

resource adt 'Microsoft.DigitalTwins/digitalTwinsInstances@2023-01-31' existing = {
  name: adtInstanceName
}

// One definition per resource group: every environment that cancels jobs on instances of
// this group shares it. Role names are unique in a tenant, and two subscriptions may each
// have a group of the same name, so the name carries a hash of the group's id; the
// definition's own id (customRoleName) is derived from the same id, so a redeploy updates it
// in place. Custom roles can be assigned at a resource group or below, so the instance
// itself is the assignment's scope.
resource importJobCanceller 'Microsoft.Authorization/roleDefinitions@2022-04-01' = if (adtRole == 'custom') {
  name: customRoleName
  properties: {
    roleName: 'ADT import job canceller (${resourceGroup().name}, ${take(uniqueString(resourceGroup().id), 6)})'
    description: 'Read and cancel Azure Digital Twins import jobs, nothing else. Used by adt-import-cancel.'
    type: 'CustomRole'
    permissions: [
      {
        actions: []
        notActions: []
        dataActions: importJobDataActions
        notDataActions: []
      }
    ]
    assignableScopes: [
      resourceGroup().id
    ]
  }
}

var roleGuid = adtRole == 'custom' ? customRoleName : adtDataOwner

resource adtAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(adt.id, identityPrincipalId, roleGuid)
  scope: adt
  properties: {
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    // A role assignment names its role by the subscription-level id, custom roles included.
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleGuid)
  }
  dependsOn: [
    importJobCanceller
  ]
}

// Operators run the ops CLI against the instance (cancel, status, list): the same least
// privilege as the app, so a person can do what the app does and nothing more.
resource operatorsAdtAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(operatorsPrincipalId)) {
  name: guid(adt.id, operatorsPrincipalId, roleGuid)
  scope: adt
  properties: {
    principalId: operatorsPrincipalId
    principalType: operatorsPrincipalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleGuid)
  }
  dependsOn: [
    importJobCanceller
  ]
}

output hostName string = adt.properties.hostName
output roleDefinitionId string = adtAccess.properties.roleDefinitionId
