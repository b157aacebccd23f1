// A Logic App (Consumption) that cancels an import job and continues only when the job is
// final. Its HTTP action calls the function with ?wait=true and follows the asynchronous
// pattern by default: 202 + Location + Retry-After until the job is final, then 200.
//
// Authentication: a dedicated host key ("logicapp"), passed as a secure workflow
// parameter. The functions use auth level FUNCTION, which keeps requiring a key even with
// App Service authentication on, so a managed-identity token alone would not do. The key
// goes in the `code` query parameter because Logic Apps poll the Location URL without the
// action's custom headers; the function echoes `code` into Location for that reason, and
// the action's inputs and outputs are marked secure so run history never shows the key.

param name string
param location string
param tags object = {}

@description('Default host name of the function app.')
param functionAppHostName string

@secure()
@description('Function key the workflow authenticates with.')
param functionKey string

resource workflow 'Microsoft.Logic/workflows@2019-05-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    state: 'Enabled'
    parameters: {
      functionKey: { value: functionKey }
    }
    definition: {
      '$schema': 'https://schema.management.azure.com/providers/Microsoft.Logic/schemas/2016-06-01/workflowdefinition.json#'
      contentVersion: '1.0.0.0'
      parameters: {
        functionKey: { type: 'securestring' }
      }
      triggers: {
        manual: {
          type: 'Request'
          kind: 'Http'
          inputs: {
            method: 'POST'
            schema: {
              type: 'object'
              properties: {
                jobId: { type: 'string' }
                traceparent: { type: 'string' }
              }
              required: [ 'jobId' ]
            }
          }
        }
      }
      actions: {
        Cancel_import_job: {
          type: 'Http'
          inputs: {
            method: 'POST'
            uri: 'https://${functionAppHostName}/api/jobs/imports/@{encodeUriComponent(triggerBody()?[\'jobId\'])}/cancel'
            queries: {
              wait: 'true'
              code: '@parameters(\'functionKey\')'
            }
            headers: {
              traceparent: '@{coalesce(triggerBody()?[\'traceparent\'], \'\')}'
            }
          }
          runtimeConfiguration: {
            secureData: { properties: [ 'inputs', 'outputs' ] }
          }
          limit: { timeout: 'PT1H' }
        }
        Response: {
          type: 'Response'
          kind: 'Http'
          runAfter: { Cancel_import_job: [ 'Succeeded' ] }
          inputs: {
            statusCode: 200
            body: '@body(\'Cancel_import_job\')'
          }
        }
      }
      outputs: {}
    }
  }
}

output name string = workflow.name
