// Azure Digital Twins Data Owner for the function app's identity on an existing instance,
// which may live in another resource group (this module is deployed at its scope).
// Data Owner is the built-in role that carries Microsoft.DigitalTwins/jobs/imports/cancel/action;
// Data Reader cannot cancel.

@description('Name of the existing ADT instance.')
param adtInstanceName string

@description('Principal id of the function app\'s user-assigned identity.')
param identityPrincipalId string

var adtDataOwner = 'bcd981a7-7f74-457b-83e1-cceb9e632ffe'

resource adt 'Microsoft.DigitalTwins/digitalTwinsInstances@2023-01-31' existing = {
  name: adtInstanceName
}

resource dataOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(adt.id, identityPrincipalId, adtDataOwner)
  scope: adt
  properties: {
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', adtDataOwner)
  }
}

output hostName string = adt.properties.hostName
