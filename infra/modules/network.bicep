// The virtual network of the private-networking option (VNET_ENABLED): one subnet for the
// function app's outbound VNet integration, delegated as Flex Consumption requires, and one
// for the private endpoints of storage and ADT.

param name string
param location string
param tags object = {}

@description('Address space of the virtual network.')
param addressPrefix string = '10.0.0.0/16'

@description('Subnet of the function app\'s outbound integration (delegated to Microsoft.App/environments).')
param appSubnetPrefix string = '10.0.2.0/24'

@description('Subnet of the private endpoints.')
param privateEndpointsSubnetPrefix string = '10.0.1.0/24'

var appSubnetName = 'app'
var privateEndpointsSubnetName = 'private-endpoints'

resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        addressPrefix
      ]
    }
    subnets: [
      {
        name: privateEndpointsSubnetName
        properties: {
          addressPrefix: privateEndpointsSubnetPrefix
          privateEndpointNetworkPolicies: 'Disabled'
        }
      }
      {
        name: appSubnetName
        properties: {
          addressPrefix: appSubnetPrefix
          // Flex Consumption integrates only with a subnet delegated to Microsoft.App/environments.
          delegations: [
            {
              name: 'flex-consumption'
              properties: {
                serviceName: 'Microsoft.App/environments'
              }
            }
          ]
        }
      }
    ]
  }
}

output id string = vnet.id
output appSubnetId string = resourceId('Microsoft.Network/virtualNetworks/subnets', vnet.name, appSubnetName)
output privateEndpointsSubnetId string = resourceId('Microsoft.Network/virtualNetworks/subnets', vnet.name, privateEndpointsSubnetName)
