"""Structural checks of infra/ (no Bicep compiler can be installed here): every file
parses with the tree-sitter-bicep grammar, and the parts the deployment relies on are there."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from cancel_job.contract import (
    ALL_QUEUES,
    DEPLOYED_SETTINGS,
    FAILURES_QUEUE,
    FLEX_REJECTED_SETTINGS,
    REQUESTS_QUEUE,
    RESULTS_QUEUE,
    ROLE_IDS,
    STORAGE_CONNECTION,
)
from tests.bicep import INFRA, BicepFile, all_files, load, path, properties, text, walk

GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
ADT_DATA_READER = "d57506d4-4c8d-48b1-8587-93c323f6a5a3"


def test_every_bicep_file_parses_without_errors() -> None:
    files = all_files()
    assert {f.path.name for f in files} >= {"main.bicep", "storage.bicep", "functionapp.bicep", "monitoring.bicep",
                                            "adt-access.bicep", "adt-instance.bicep", "logicapp.bicep"}
    assert [p for f in files for p in f.problems()] == []


def test_the_parse_check_can_fail(tmp_path: Path) -> None:
    broken = tmp_path / "broken.bicep"
    broken.write_text("resource x 'Microsoft.Web/sites@2024-04-01' = {\n  name: 'a'\n  properties: {\n")
    assert BicepFile.load(broken).problems()


def app_settings() -> dict:
    [(_, config)] = load("modules/functionapp.bicep").resources("config")
    return properties(path(config, "properties"))


def test_app_settings_are_exactly_what_the_code_reads() -> None:
    assert set(app_settings()) == DEPLOYED_SETTINGS


def test_no_setting_flex_consumption_rejects() -> None:
    everything = "\n".join(f.source for f in all_files())
    assert [s for s in FLEX_REJECTED_SETTINGS if s in everything] == []


def test_connections_are_identity_based() -> None:
    settings = app_settings()
    assert text(settings[f"{STORAGE_CONNECTION}__credential"]) == "managedidentity"
    assert text(settings["AzureWebJobsStorage__credential"]) == "managedidentity"
    assert text(settings[f"{STORAGE_CONNECTION}__clientId"]) == "identityClientId"
    assert text(settings["AZURE_CLIENT_ID"]) == "identityClientId"
    assert "Authorization=AAD" in text(settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"])


def test_queue_names_match_the_bindings() -> None:
    storage = load("modules/storage.bicep")
    [queue_var] = [node for name, node, _ in storage.declarations("variable_declaration") if name == "queueNames"]
    declared = {text(n) for n in walk(queue_var) if n.type == "string"}
    assert declared == set(ALL_QUEUES) == {REQUESTS_QUEUE, RESULTS_QUEUE, FAILURES_QUEUE, f"{REQUESTS_QUEUE}-poison"}
    mentioned = {m for f in all_files() for m in re.findall(r"import-cancel-[a-z-]+", f.source)}
    assert mentioned <= set(ALL_QUEUES)


def test_storage_is_keyless_and_locked_down() -> None:
    [(_, account)] = load("modules/storage.bicep").resources("Microsoft.Storage/storageAccounts@")
    props = properties(path(account, "properties"))
    assert text(props["allowSharedKeyAccess"]) == "false"
    assert text(props["allowBlobPublicAccess"]) == "false"
    assert text(props["minimumTlsVersion"]) == "TLS1_2"
    assert [k for k, _ in load("modules/storage.bicep").resources("Microsoft.Storage/storageAccounts/blobServices/c")]


def role_ids_in(relative: str) -> set[str]:
    return set(GUID.findall(load(relative).source))


def test_role_definitions_are_the_right_ones() -> None:
    assert role_ids_in("modules/storage.bicep") == {
        ROLE_IDS["Storage Blob Data Owner"], ROLE_IDS["Storage Queue Data Contributor"],
        ROLE_IDS["Storage Table Data Contributor"]}
    assert role_ids_in("modules/monitoring.bicep") == {ROLE_IDS["Monitoring Metrics Publisher"]}
    assert role_ids_in("modules/adt-access.bicep") == {ROLE_IDS["Azure Digital Twins Data Owner"]}
    assert role_ids_in("modules/adt-instance.bicep") == {ROLE_IDS["Azure Digital Twins Data Owner"]}
    assert role_ids_in("modules/logicapp.bicep") == {ROLE_IDS["Storage Queue Data Message Sender"]}
    everything = "\n".join(f.source for f in all_files())
    assert ADT_DATA_READER not in everything
    assert set(GUID.findall(everything)) <= set(ROLE_IDS.values())


def test_role_assignments_have_deterministic_names_and_explicit_principal_types() -> None:
    assignments = [(f.path.name, body) for f in all_files()
                   for _, body in f.resources("Microsoft.Authorization/roleAssignments@")]
    # storage (identity, optional user), monitoring, ADT (existing or new), the queue Logic App
    assert len(assignments) == 6
    for name, body in assignments:
        assert text(path(body, "name")).startswith("guid("), name
        props = properties(path(body, "properties"))
        assert "principalType" in props and "subscriptionResourceId(" in text(props["roleDefinitionId"]), name


def test_adt_role_is_granted_in_the_instances_own_resource_group() -> None:
    main = load("main.bicep")
    [access] = [node for name, node, _ in main.declarations("module_declaration") if name == "existingAdtAccess"]
    assert "scope: resourceGroup(adtResourceGroup)" in text(access)
    adt = load("modules/adt-access.bicep")
    assert "existing" in adt.source and "Microsoft.DigitalTwins/digitalTwinsInstances@" in adt.source


def test_flex_consumption_python_311_with_identity_deployment() -> None:
    app = load("modules/functionapp.bicep")
    [(_, plan)] = app.resources("Microsoft.Web/serverfarms@")
    assert text(path(plan, "sku", "name")) == "FC1"
    [(_, site)] = app.resources("Microsoft.Web/sites@")
    config = path(site, "properties", "functionAppConfig")
    assert text(path(config, "runtime", "name")) == "python" and text(path(config, "runtime", "version")) == "3.11"
    assert text(path(config, "deployment", "storage", "authentication", "type")) == "UserAssignedIdentity"
    assert set(properties(path(config, "scaleAndConcurrency"))) == {"maximumInstanceCount", "instanceMemoryMB"}
    assert "'functionapp,linux'" in text(path(site, "kind")) or text(path(site, "kind")) == "functionapp,linux"


def test_monitoring_has_local_auth_off() -> None:
    monitoring = load("modules/monitoring.bicep")
    [(_, component)] = monitoring.resources("Microsoft.Insights/components@")
    assert text(path(component, "properties", "DisableLocalAuth")) == "true"


def test_no_secrets_in_outputs() -> None:
    for bicep in all_files():
        secure = {name for name, _, decorators in bicep.declarations("parameter_declaration")
                  if any("secure()" in d for d in decorators)}
        for name, node, _ in bicep.declarations("output_declaration"):
            body = text(node)
            assert not re.search(r"(?i)listkeys|connectionstring|accountkey|password|secret", body), (bicep.path, name)
            assert not any(re.search(rf"\b{s}\b", body) for s in secure), (bicep.path, name)


def test_main_parameters_are_documented_and_match_the_parameters_file() -> None:
    main = load("main.bicep")
    params = {name: decorators for name, _, decorators in main.declarations("parameter_declaration")}
    assert all(any(d.startswith("@description(") for d in decorators) for decorators in params.values())
    assert [d for d in params["logicAppFunctionKey"] if d == "@secure()"]
    assert set(params) >= {"adtInstanceName", "adtResourceGroupName", "createAdtInstance", "maximumInstanceCount",
                           "instanceMemoryMB", "principalId", "deployLogicApp"}
    file_params = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert set(file_params) <= set(params)


def workflows() -> dict[str, object]:
    logic = load("modules/logicapp.bicep")
    return {text(path(body, "name")): body for _, body in logic.resources("Microsoft.Logic/workflows@")}


def test_logic_app_calls_the_function_over_http_with_a_secure_key() -> None:
    logic = load("modules/logicapp.bicep")
    workflow = workflows()["name"]
    action = path(workflow, "properties", "definition", "actions", "Cancel_import_job")
    assert text(path(action, "type")) == "Http"  # the built-in Function action supports only .NET and Node
    inputs = path(action, "inputs")
    assert "/cancel" in text(path(inputs, "uri"))
    assert text(path(inputs, "queries", "wait")) == "true"
    assert "secureData" in text(path(action, "runtimeConfiguration"))
    assert text(path(workflow, "properties", "definition", "parameters", "functionKey", "type")) == "securestring"
    assert [d for name, _, decs in logic.declarations("parameter_declaration") for d in decs
            if name == "functionKey" and d == "@secure()"]


def test_azure_yaml_deploys_this_folder_as_a_function_app() -> None:
    content = (INFRA.parent / "azure.yaml").read_text()
    assert re.search(r"^\s+host: function$", content, re.M)
    assert re.search(r"^\s+language: python$", content, re.M)
    assert re.search(r"^\s+path: infra$", content, re.M)


@pytest.mark.parametrize("name", ["requirements.txt", "host.json", "function_app.py"])
def test_deployed_package_has_what_the_host_needs(name: str) -> None:
    ignored = (INFRA.parent / ".funcignore").read_text().split()
    assert name not in ignored
    assert (INFRA.parent / name).exists()


def test_dev_tools_are_not_deployed() -> None:
    ignored = set((INFRA.parent / ".funcignore").read_text().split())
    assert {"devtools/", "tests/", "node_modules/", ".venv/", "requirements-dev.txt"} <= ignored


def test_queue_logic_app_puts_plain_json_with_its_own_identity() -> None:
    """Issue: plain text from Logic Apps works. The workflow puts a plain JSON message on the
    requests queue through the Queue service's REST API, authenticated as itself, and may
    only send messages, to that queue only."""
    logic = load("modules/logicapp.bicep")
    workflow = workflows()["queueWorkflowName"]
    assert text(path(workflow, "identity", "type")) == "SystemAssigned"
    put = path(workflow, "properties", "definition", "actions", "Put_cancel_message")
    inputs = path(put, "inputs")
    assert text(path(put, "type")) == "Http" and text(path(inputs, "method")) == "POST"
    assert text(path(inputs, "uri")).endswith("${requestsQueueName}/messages")
    assert "primaryEndpoints.queue" in text(path(inputs, "uri"))
    assert text(path(inputs, "authentication", "type")) == "ManagedServiceIdentity"
    assert text(path(inputs, "authentication", "audience")) == "https://storage.azure.com/"
    body = text(path(inputs, "body"))
    assert "<MessageText>" in body and "base64" not in body.lower()  # plain text, XML-escaped
    assert all(escape in body for escape in ("&amp;", "&lt;", "&gt;"))
    compose = properties(path(workflow, "properties", "definition", "actions", "Compose_message", "inputs"))
    assert {"jobId", "traceparent", "waitForCompletion"} == set(compose)
    [(_, assignment)] = logic.resources("Microsoft.Authorization/roleAssignments@")
    assert text(path(assignment, "scope")) == "storage::queueService::requestsQueue"
    assert "queueSenderRoleId" in text(path(assignment, "properties", "roleDefinitionId"))
    main = load("main.bicep")
    assert "requestsQueueName: 'import-cancel-requests'" in main.source
