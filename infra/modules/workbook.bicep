// The operator's view: an Azure Monitor workbook over Application Insights, deployed with
// the app. Its panels (infra/workbook/workbook.json, every query checked in tests/test_kql.py)
// show what the app did over a chosen time range; docs/operations.md explains each.
// kind 'shared' with a deterministic name, so that a redeploy updates it in place.

param location string
param tags object = {}

@description('Resource id of the Application Insights component the app writes to.')
param applicationInsightsId string

@description('Resource id of the app\'s storage account (its queues\' depth).')
param storageAccountId string

@description('Resource id of the function app (its executions).')
param functionAppId string

var serialized = replace(
  replace(
    replace(loadTextContent('../workbook/workbook.json'), '__APPLICATION_INSIGHTS_ID__', applicationInsightsId),
    '__STORAGE_ACCOUNT_ID__',
    storageAccountId
  ),
  '__FUNCTION_APP_ID__',
  functionAppId
)

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(resourceGroup().id, 'adt-import-cancel', 'workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'ADT import cancels'
    category: 'workbook'
    sourceId: applicationInsightsId
    serializedData: serialized
    version: '1.0'
  }
}

output id string = workbook.id
