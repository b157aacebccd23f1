// The Flex Consumption plan and function app (Linux, Python 3.11). Every connection uses
// the user-assigned identity: host storage, the deployment package, the queues, telemetry
// and ADT. The app settings are exactly those the code reads (cancel_job/contract.py).

param name string
param planName string
param location string
param tags object = {}

@description('Resource id of the user-assigned identity.')
param identityId string

@description('Client id of the user-assigned identity.')
param identityClientId string

param storageAccountName string
param deploymentContainerName string
param applicationInsightsName string

@description('https://<host> of the ADT instance (ADT_ENDPOINT).')
param adtEndpoint string

@description('Further allowed ADT endpoints, comma-separated (ADT_ALLOWED_ENDPOINTS).')
param adtAllowedEndpoints string = ''

param cancelDeadlineSeconds int = 25
param cancelMaxAttempts int = 5
param statusPollSeconds int = 5

@description('Per-attempt connect timeout to ADT, seconds (a string: it may be fractional).')
param adtConnectTimeoutSeconds string = '3.05'

@description('Per-attempt read timeout to ADT, seconds.')
param adtReadTimeoutSeconds string = '10'

@description('Queue path: follow every cancel through to a final status unless the message says otherwise.')
param followThroughDefault bool = false

@description('Queue path: seconds between follow-up checks of a job that is still cancelling.')
param followThroughIntervalSeconds int = 30

@description('Queue path: most follow-up checks of one job.')
param followThroughMaxChecks int = 40

@description('Queue path: give up following a job after this many seconds.')
param followThroughDeadlineSeconds int = 3600

@description('Requests per second to one ADT instance from one app instance (ADT_JOBS_REQUESTS_PER_SECOND; 0 turns spacing off). A string: it may be fractional.')
param adtJobsRequestsPerSecond string = '1'

@description('Who shares a pacing gate (ADT_PACING_SCOPE): every process, through the adt-pacing container, or each process on its own.')
@allowed(['shared', 'process'])
param adtPacingScope string = 'shared'

@description('Queue path: a request that ADT throttling keeps deferring ends in TooManyRequests after this many seconds (THROTTLE_DEFERRAL_MAX_SECONDS).')
@minValue(1)
param throttleDeferralMaxSeconds int = 86400

@description('The longest Retry-After from ADT the app honours, in seconds (ADT_RETRY_AFTER_MAX_SECONDS); a longer one is capped, since the gate would close the instance for the whole fleet. ADT sends 5-14 s.')
@minValue(1)
param retryAfterMaxSeconds int = 60

@description('Most on-demand instances of each per-function scale group (1-1000). See docs/deploy.md for the default.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 10

@allowed([512, 2048, 4096])
param instanceMemoryMB int = 512

@description('Spread the plan over availability zones (the storage account must be ZRS).')
param zoneRedundant bool = false

@description('HTTP requests one instance takes at once.')
@minValue(1)
@maxValue(1000)
param httpPerInstanceConcurrency int = 16

@description('Resource id of the subnet for outbound VNet integration (delegated to Microsoft.App/environments); empty: none.')
param virtualNetworkSubnetId string = ''

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
    zoneRedundant: zoneRedundant
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    // Outbound traffic through the VNet (private storage and ADT); inbound stays public behind
    // App Service authentication (app-auth.bicep).
    virtualNetworkSubnetId: empty(virtualNetworkSubnetId) ? null : virtualNetworkSubnetId
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
        triggers: {
          http: {
            perInstanceConcurrency: httpPerInstanceConcurrency
          }
        }
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }

  // None of the settings Flex Consumption rejects (worker runtime, extension version,
  // run-from-package, content share, build flags) is set: functionAppConfig covers them.
  resource appSettings 'config' = {
    name: 'appsettings'
    properties: {
      // Host storage, identity-based.
      AzureWebJobsStorage__accountName: storage.name
      AzureWebJobsStorage__credential: 'managedidentity'
      AzureWebJobsStorage__clientId: identityClientId
      // The queue binding's connection (STORAGE_CONNECTION), identity-based.
      STORAGE_CONNECTION__queueServiceUri: storage.properties.primaryEndpoints.queue
      // The fleet's shared pacing records (the adt-pacing container) on the same account.
      STORAGE_CONNECTION__blobServiceUri: storage.properties.primaryEndpoints.blob
      STORAGE_CONNECTION__credential: 'managedidentity'
      STORAGE_CONNECTION__clientId: identityClientId
      // Telemetry with Entra authentication (local auth is off on the component).
      APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString
      APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
      // With host.json telemetryMode OpenTelemetry, the worker calls configure_azure_monitor().
      PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY: 'true'
      // The app's own settings.
      ADT_ENDPOINT: adtEndpoint
      ADT_ALLOWED_ENDPOINTS: adtAllowedEndpoints
      AZURE_CLIENT_ID: identityClientId
      CANCEL_DEADLINE_SECONDS: string(cancelDeadlineSeconds)
      CANCEL_MAX_ATTEMPTS: string(cancelMaxAttempts)
      ADT_CONNECT_TIMEOUT_SECONDS: adtConnectTimeoutSeconds
      ADT_READ_TIMEOUT_SECONDS: adtReadTimeoutSeconds
      STATUS_POLL_SECONDS: string(statusPollSeconds)
      FOLLOW_THROUGH_DEFAULT: string(followThroughDefault)
      FOLLOW_THROUGH_INTERVAL_SECONDS: string(followThroughIntervalSeconds)
      FOLLOW_THROUGH_MAX_CHECKS: string(followThroughMaxChecks)
      FOLLOW_THROUGH_DEADLINE_SECONDS: string(followThroughDeadlineSeconds)
      ADT_JOBS_REQUESTS_PER_SECOND: adtJobsRequestsPerSecond
      ADT_PACING_SCOPE: adtPacingScope
      THROTTLE_DEFERRAL_MAX_SECONDS: string(throttleDeferralMaxSeconds)
      ADT_RETRY_AFTER_MAX_SECONDS: string(retryAfterMaxSeconds)
      // App Service authentication is in front: a call it did not validate is refused.
      HTTP_CALLER_AUTHENTICATION: 'platform'
      // App Service authentication accepts tokens from this tenant only.
      WEBSITE_AUTH_AAD_ALLOWED_TENANTS: tenant().tenantId
    }
  }
}

// azd deploys with Entra tokens; nothing may publish with a basic-auth (FTP or SCM) password.
resource ftpPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

output name string = site.name
output id string = site.id
output defaultHostName string = site.properties.defaultHostName
