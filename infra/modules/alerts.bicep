// An alert when cancels fail: a log search alert on Application Insights that fires when
// any cancel ended `failed` in the last 15 minutes, split by error code, and an action
// group that e-mails an operator when an address is given. The query reads the `outcome`
// field of the one log record each request writes (cancel_job/contract.py OUTCOME_FIELD and
// OUTCOME_FAILED; with OpenTelemetry, log attributes land in customDimensions of traces).

@description('Prefix of the alert and action group names.')
param namePrefix string
param location string
param tags object = {}

@description('Resource id of the Application Insights component the app writes to.')
param applicationInsightsId string

@description('E-mail address to notify. Empty: the alert is visible in the portal only.')
param alertEmail string = ''

resource operators 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: 'ag-${namePrefix}'
  location: 'Global'
  tags: tags
  properties: {
    groupShortName: 'adtcancel'
    enabled: true
    emailReceivers: empty(alertEmail) ? [] : [
      {
        name: 'operator'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

resource failedCancels 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'alert-${namePrefix}-failed-cancels'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'ADT import cancels failed'
    description: 'At least one import cancel ended failed in the last 15 minutes. The errorCode dimension says why; see the runbook in docs/operations.md.'
    severity: 2
    enabled: true
    scopes: [
      applicationInsightsId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: 'traces | where tostring(customDimensions["outcome"]) == "failed" | extend errorCode = tostring(customDimensions["errorCode"])'
          timeAggregation: 'Count'
          dimensions: [
            {
              name: 'errorCode'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: [
        operators.id
      ]
    }
  }
}

output alertName string = failedCancels.name
output actionGroupId string = operators.id
