// Two Logic Apps (Consumption). The first cancels an import job over HTTP and continues
// only when the job is final. The second puts a plain JSON cancel message on the requests
// queue with its own managed identity, to show that plain text from Logic Apps works
// (host.json messageEncoding none).
//
// The HTTP workflow: Its HTTP action calls the function with ?wait=true and follows the asynchronous
// pattern by default: 202 + Location + Retry-After until the job is final, then 200. Its
// own caller gets an asynchronous response too (202 and a status URL), since a Request
// trigger must answer within 120 s.
//
// Authentication: the workflow's system-assigned managed identity. Its HTTP action gets an
// Entra token for the API's audience and sends it on the call and on every poll of the
// Location the function hands out (Logic Apps send the action's own authentication on those
// polls). App Service authentication on the function app lets the identity in because
// main.bicep puts its object id on the allow-list. No key, no secret, nothing in the URL.

param name string
param location string
param tags object = {}

@description('Default host name of the function app.')
param functionAppHostName string

@description('Audience of the token the HTTP action gets for the function app (API_AUDIENCE).')
param apiAudience string

@description('Name of the queue workflow.')
param queueWorkflowName string

@description('Storage account that holds the requests queue.')
param storageAccountName string

@description('Name of the requests queue.')
param requestsQueueName string

@description('Deploy the queue workflow. Off with private networking: a Consumption Logic App cannot reach storage that accepts only private endpoints.')
param deployQueueWorkflow bool = true

// Storage Queue Data Message Sender: put messages on a queue, nothing else.
var queueSenderRoleId = 'c6a89b2d-59bc-44d0-9896-0f6e12d7b80a'

resource workflow 'Microsoft.Logic/workflows@2019-05-01' = {
  name: name
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    state: 'Enabled'
    definition: {
      '$schema': 'https://schema.management.azure.com/providers/Microsoft.Logic/schemas/2016-06-01/workflowdefinition.json#'
      contentVersion: '1.0.0.0'
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
            }
            headers: {
              traceparent: '@{coalesce(triggerBody()?[\'traceparent\'], \'\')}'
            }
            authentication: {
              type: 'ManagedServiceIdentity'
              audience: apiAudience
            }
          }
          limit: { timeout: 'PT1H' }
        }
        // A Request trigger must answer within 120 s, and the cancel may take an hour: the
        // asynchronous response answers the caller 202 at once, with a status URL that
        // answers 202 until the run reaches a Response, then that Response.
        Response: {
          type: 'Response'
          kind: 'Http'
          runAfter: { Cancel_import_job: [ 'Succeeded' ] }
          operationOptions: 'Asynchronous'
          inputs: {
            statusCode: 200
            body: '@body(\'Cancel_import_job\')'
          }
        }
        // The function answered an error (4xx/5xx fails the HTTP action) or never answered in
        // time: the caller gets the function's status and error body, or 504 when there is none.
        Failure_response: {
          type: 'Response'
          kind: 'Http'
          runAfter: { Cancel_import_job: [ 'Failed', 'TimedOut' ] }
          operationOptions: 'Asynchronous'
          inputs: {
            statusCode: '@coalesce(outputs(\'Cancel_import_job\')?[\'statusCode\'], 504)'
            headers: { 'Content-Type': 'application/json' }
            body: '@coalesce(body(\'Cancel_import_job\'), json(\'{"error":{"code":"GatewayTimeout","message":"The function did not answer within the time limit of the workflow."}}\'))'
          }
        }
      }
      outputs: {}
    }
  }
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName

  resource queueService 'queueServices' existing = {
    name: 'default'

    resource requestsQueue 'queues' existing = {
      name: requestsQueueName
    }
  }
}

// The queue workflow: Request trigger -> the Queue service's REST API ("Put Message"), with
// the workflow's system-assigned identity. The message text is plain JSON (XML-escaped in
// the envelope), exactly what Logic Apps' "Put a message on a queue" action sends.
resource queueWorkflow 'Microsoft.Logic/workflows@2019-05-01' = if (deployQueueWorkflow) {
  name: queueWorkflowName
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    state: 'Enabled'
    definition: {
      '$schema': 'https://schema.management.azure.com/providers/Microsoft.Logic/schemas/2016-06-01/workflowdefinition.json#'
      contentVersion: '1.0.0.0'
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
                waitForCompletion: { type: 'boolean' }
              }
              required: [ 'jobId' ]
            }
          }
        }
      }
      actions: {
        Compose_message: {
          type: 'Compose'
          inputs: {
            jobId: '@triggerBody()?[\'jobId\']'
            traceparent: '@{coalesce(triggerBody()?[\'traceparent\'], \'\')}'
            waitForCompletion: '@coalesce(triggerBody()?[\'waitForCompletion\'], false)'
          }
        }
        Put_cancel_message: {
          type: 'Http'
          runAfter: { Compose_message: [ 'Succeeded' ] }
          inputs: {
            method: 'POST'
            uri: '${storage.properties.primaryEndpoints.queue}${requestsQueueName}/messages'
            headers: {
              'x-ms-version': '2021-08-06'
              'Content-Type': 'application/xml'
            }
            body: '<QueueMessage><MessageText>@{replace(replace(replace(string(outputs(\'Compose_message\')), \'&\', \'&amp;\'), \'<\', \'&lt;\'), \'>\', \'&gt;\')}</MessageText></QueueMessage>'
            authentication: {
              type: 'ManagedServiceIdentity'
              audience: 'https://storage.azure.com/'
            }
          }
        }
        Response: {
          type: 'Response'
          kind: 'Http'
          runAfter: { Put_cancel_message: [ 'Succeeded' ] }
          inputs: {
            statusCode: 202
            body: '@outputs(\'Compose_message\')'
          }
        }
      }
      outputs: {}
    }
  }
}

// Least privilege: send messages, on the requests queue only.
resource queueSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (deployQueueWorkflow) {
  name: guid(storage::queueService::requestsQueue.id, queueWorkflowName, queueSenderRoleId)
  scope: storage::queueService::requestsQueue
  properties: {
    principalId: queueWorkflow!.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', queueSenderRoleId)
  }
}

output name string = workflow.name
output queueWorkflowName string = deployQueueWorkflow ? queueWorkflow!.name : ''
// The HTTP workflow's identity: main.bicep puts it on the API's allow-list.
output principalId string = workflow.identity.principalId
