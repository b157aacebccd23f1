// One private endpoint in the VNet, with the private DNS zone that makes the service's
// usual host name resolve to it from inside the VNet (and only there).

param name string
param location string
param tags object = {}

@description('Resource id of the subnet the endpoint gets its address in.')
param subnetId string

@description('Resource id of the virtual network the DNS zone is linked to.')
param vnetId string

@description('Resource id of the service the endpoint connects to.')
param serviceId string

@description('Sub-resource of the service: blob, queue or table for storage; API for ADT.')
param groupId string

@description('The service\'s private-link DNS zone, such as privatelink.queue.core.windows.net.')
param dnsZoneName string

@description('Ask the service\'s owner to approve the connection (manual), instead of approving it with the deployer\'s own right on the service (automatic, which fails with LinkedAuthorizationFailed without that right).')
param manualApproval bool = false

var connections = [
  {
    name: name
    properties: {
      privateLinkServiceId: serviceId
      groupIds: [
        groupId
      ]
      requestMessage: manualApproval ? 'adt-import-cancel (${name}): a private endpoint for the app that cancels import jobs' : null
    }
  }
]

resource zone 'Microsoft.Network/privateDnsZones@2020-06-01' = {
  name: dnsZoneName
  location: 'global'
  tags: tags
}

resource zoneLink 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2020-06-01' = {
  parent: zone
  name: '${name}-link'
  location: 'global'
  tags: tags
  properties: {
    registrationEnabled: false
    virtualNetwork: {
      id: vnetId
    }
  }
}

resource endpoint 'Microsoft.Network/privateEndpoints@2024-05-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    subnet: {
      id: subnetId
    }
    privateLinkServiceConnections: manualApproval ? [] : connections
    manualPrivateLinkServiceConnections: manualApproval ? connections : []
  }
}

resource zoneGroup 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2024-05-01' = {
  parent: endpoint
  name: 'default'
  properties: {
    privateDnsZoneConfigs: [
      {
        name: replace(dnsZoneName, '.', '-')
        properties: {
          privateDnsZoneId: zone.id
        }
      }
    ]
  }
}

output id string = endpoint.id
