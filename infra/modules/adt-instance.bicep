// A new ADT instance for a trial environment. It lives in the app's resource group, so
// `azd down` deletes it with everything else; the role is granted by adt-access.bicep.

param name string
param location string
param tags object = {}

resource adt 'Microsoft.DigitalTwins/digitalTwinsInstances@2023-01-31' = {
  name: name
  location: location
  tags: tags
  properties: {
    publicNetworkAccess: 'Enabled'
  }
}

output name string = adt.name
