// A new ADT instance for a trial environment. It lives in the app's resource group, so
// `azd down` deletes it with everything else; the role is granted by adt-access.bicep.

param name string
param location string
param tags object = {}

@description('Disabled: only private endpoints reach the instance (private networking).')
@allowed(['Enabled', 'Disabled'])
param publicNetworkAccess string = 'Enabled'

resource adt 'Microsoft.DigitalTwins/digitalTwinsInstances@2023-01-31' = {
  name: name
  location: location
  tags: tags
  properties: {
    publicNetworkAccess: publicNetworkAccess
  }
}

output name string = adt.name
output id string = adt.id
