// App Service authentication in front of the HTTP API: every caller signs in with Microsoft
// Entra ID, and only callers on the allow-list get through. No function key opens anything
// (the functions run at auth level anonymous behind it, and refuse a call it did not
// validate: HTTP_CALLER_AUTHENTICATION=platform).
//
// Audience: by default https://management.azure.com, as the Logic Apps managed-identity recipe
// does, so that no app registration is needed (creating one from Bicep needs directory
// rights a subscription Owner may lack). Any identity in the tenant can get a token for that
// audience, which is why the allow-list is always set: with no caller named, a placeholder
// that matches no one keeps the API closed (403) instead of open to the tenant.
// A dedicated registration is tighter: set apiAudience to its Application ID URI and
// apiClientId to its client id (docs/deploy.md).

param functionAppName string

@description('Audience callers\' tokens must carry (API_AUDIENCE).')
param audience string

@description('Client id Easy Auth\'s Microsoft provider is registered with: a dedicated app registration\'s (API_CLIENT_ID), or by default the app\'s own identity\'s, which needs no registration.')
param clientId string

@description('Object ids (oid) of the callers allowed in: managed identities, service principals, people.')
param allowedObjectIds array

@description('Application (client) ids (appid/azp) allowed in. When set, a caller must be on both lists.')
param allowedApplicationIds array = []

// Entra v1 tokens (managed identities, service principals, az account get-access-token) carry
// this issuer; the tenant is this deployment's.
var issuer = 'https://sts.windows.net/${tenant().tenantId}/'
// Matches no caller: an empty allow-list would let the whole tenant in.
var nobody = '00000000-0000-0000-0000-000000000000'

resource site 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource auth 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'authsettingsV2'
  properties: {
    // Without platform.enabled a Bicep deployment was reported applied but not enforced
    // (Azure/bicep issue 12220).
    platform: {
      enabled: true
    }
    globalValidation: {
      requireAuthentication: true
      unauthenticatedClientAction: 'Return401'
    }
    httpSettings: {
      requireHttps: true
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: clientId
          openIdIssuer: issuer
        }
        validation: {
          allowedAudiences: [
            audience
          ]
          defaultAuthorizationPolicy: {
            allowedPrincipals: {
              identities: empty(allowedObjectIds) ? [nobody] : allowedObjectIds
            }
            allowedApplications: empty(allowedApplicationIds) ? null : allowedApplicationIds
          }
        }
      }
    }
    login: {
      // An API called with bearer tokens: nothing to store between requests.
      tokenStore: {
        enabled: false
      }
    }
  }
}

output audience string = audience
