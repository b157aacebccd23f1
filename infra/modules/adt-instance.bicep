// A new ADT instance for a trial environment, with Data Owner for the function's identity.

param name string
param location string
param tags object = {}

@description('Principal id of the function app\'s user-assigned identity.')
param identityPrincipalId string

var adtDataOwner = 'bcd981a7-7f74-457b-83e1-cceb9e632ffe'

resource adt 'Microsoft.DigitalTwins/digitalTwinsInstances@2023-01-31' = {
  name: name
  location: location
  tags: tags
  properties: {
    publicNetworkAccess: 'Enabled'
  }
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
