// The alerts, each a log search alert on Application Insights with a runbook line in
// docs/operations.md, and an action group that e-mails an operator when an address is
// given. The queries read the fields of the one log record each request writes
// (cancel_job/contract.py: OUTCOME_FIELD, PACING_FIELD, CALLER_ERROR_CODES, FUNCTION_NAMES;
// with OpenTelemetry, log attributes land in customDimensions of traces); every query is
// checked with Microsoft's Kusto language service in tests/test_kql.py.
//
// 1. failed-cancels (severity 2): a cancel failed for the platform's or ADT's reasons.
// 2. caller-mistakes (severity 3): a cancel failed for the caller's own (a mistyped job id,
//    a job that already ended, an instance not allowed, an unreadable message).
// 3. silent-failures (severity 1, the backstop): an invocation failed without writing any
//    outcome (a worker crash, the time limit, a failed output binding): such a queue
//    message ends in poison with nobody told otherwise.
// 4. pacing-fallback (severity 3): processes paced ADT alone because the pacing store was
//    out or refused (the fleet may draw 429s).

@description('Prefix of the alert and action group names.')
param namePrefix string
param location string
param tags object = {}

@description('Resource id of the Application Insights component the app writes to.')
param applicationInsightsId string

@description('E-mail address to notify. Empty: the alerts are visible in the portal only.')
param alertEmail string = ''

var callerErrorCodes = '"InvalidJobId", "InvalidMessage", "InstanceNotAllowed", "JobNotCancellable", "JobNotFound", "ImportJobNotFound"'
var failedCancels = 'traces | where tostring(customDimensions["outcome"]) == "failed" | extend errorCode = tostring(customDimensions["errorCode"])'

var rules = [
  {
    name: 'failed-cancels'
    displayName: 'ADT import cancels failed'
    description: 'At least one import cancel ended failed, for the platform\'s or ADT\'s reasons, in the last 15 minutes. The errorCode dimension says why; see the runbook in docs/operations.md.'
    severity: 2
    query: '${failedCancels} | where errorCode !in (${callerErrorCodes})'
    dimension: 'errorCode'
  }
  {
    name: 'caller-mistakes'
    displayName: 'ADT import cancels refused: the callers\' mistakes'
    description: 'At least one cancel failed for the caller\'s own mistake (a mistyped or finished job, an instance not allowed, an unreadable message) in the last 15 minutes. Not the app\'s trouble; see the runbook in docs/operations.md.'
    severity: 3
    query: '${failedCancels} | where errorCode in (${callerErrorCodes})'
    dimension: 'errorCode'
  }
  {
    name: 'silent-failures'
    displayName: 'ADT import cancel invocations failed without an outcome'
    description: 'An invocation of a cancel or status function failed and wrote no outcome (a worker crash, the time limit, a failed output binding): a queue message may be on its way to poison. See the runbook in docs/operations.md.'
    severity: 1
    query: 'requests | where success == false and operation_Name in ("cancel_import_job_http", "import_job_status", "cancel_import_job_queue") | join kind=leftanti (traces | where isnotempty(tostring(customDimensions["outcome"])) | project operation_Id) on operation_Id | extend function = operation_Name'
    dimension: 'function'
  }
  {
    name: 'pacing-fallback'
    displayName: 'ADT pacing: processes paced alone'
    description: 'Requests were paced by their own process because the pacing store was out or refused (a 403 names a missing role); the fleet may draw 429s. See the runbook in docs/operations.md.'
    severity: 3
    query: 'traces | where tostring(customDimensions["pacing"]) == "fallback" | extend instance = tostring(customDimensions["instance"])'
    dimension: 'instance'
  }
]

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

resource alerts 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = [for rule in rules: {
  name: 'alert-${namePrefix}-${rule.name}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: rule.displayName
    description: rule.description
    severity: rule.severity
    enabled: true
    scopes: [
      applicationInsightsId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: rule.query
          timeAggregation: 'Count'
          dimensions: [
            {
              name: rule.dimension
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
}]

output alertName string = alerts[0].name
output alertNames array = [for (rule, i) in rules: alerts[i].name]
