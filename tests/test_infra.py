"""Structural checks of infra/ (no Bicep compiler can be installed here): every file
parses with the tree-sitter-bicep grammar, and the parts the deployment relies on are there."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from cancel_job.contract import (
    ADT_DATA_ACTIONS,
    ALL_QUEUES,
    DEPLOYED_SETTINGS,
    FAILURES_QUEUE,
    FLEX_REJECTED_SETTINGS,
    PACING_CONTAINER,
    REQUESTS_QUEUE,
    RESULTS_QUEUE,
    ROLE_IDS,
    STORAGE_CONNECTION,
)
from devtools.azurite import REPO_ROOT
from tests.bicep import INFRA, BicepFile, all_files, load, path, properties, text, walk

GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
ADT_DATA_READER = "d57506d4-4c8d-48b1-8587-93c323f6a5a3"
NO_CALLER = "00000000-0000-0000-0000-000000000000"


def test_every_bicep_file_parses_without_errors() -> None:
    files = all_files()
    assert {f.path.name for f in files} >= {
        "main.bicep",
        "storage.bicep",
        "functionapp.bicep",
        "monitoring.bicep",
        "adt-access.bicep",
        "adt-instance.bicep",
        "logicapp.bicep",
        "alerts.bicep",
    }
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


def test_the_pacing_container_is_created_with_the_name_the_code_uses() -> None:
    containers = load("modules/storage.bicep").resources("Microsoft.Storage/storageAccounts/blobServices/containers@")
    names = {text(path(body, "name")) for _, body in containers}
    assert PACING_CONTAINER in names
    assert text(app_settings()[f"{STORAGE_CONNECTION}__blobServiceUri"]) == "storage.properties.primaryEndpoints.blob"


@pytest.mark.parametrize("relative", ["main.bicep", "modules/functionapp.bicep"])
def test_the_instance_cap_accepts_one_and_defaults_to_ten(relative: str) -> None:
    bicep = load(relative)
    [(node, decorators)] = [
        (node, decs)
        for name, node, decs in bicep.declarations("parameter_declaration")
        if name == "maximumInstanceCount"
    ]
    assert "@minValue(1)" in decorators and "@maxValue(1000)" in decorators
    assert text(node).endswith("= 10")


def test_the_queue_function_has_no_always_ready_instances() -> None:
    # Always-ready instances bill while idle and sit outside the cap; the queue function waits on ADT.
    assert "alwaysReady" not in load("modules/functionapp.bicep").source


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
        ROLE_IDS["Storage Blob Data Owner"],
        ROLE_IDS["Storage Queue Data Contributor"],
        ROLE_IDS["Storage Table Data Contributor"],
    }
    assert role_ids_in("modules/monitoring.bicep") == {ROLE_IDS["Monitoring Metrics Publisher"]}
    assert role_ids_in("modules/adt-access.bicep") == {ROLE_IDS["Azure Digital Twins Data Owner"]}  # the fallback
    assert role_ids_in("modules/adt-instance.bicep") == set()  # adt-access grants the role on a new one too
    assert role_ids_in("modules/logicapp.bicep") == {ROLE_IDS["Storage Queue Data Message Sender"]}
    everything = "\n".join(f.source for f in all_files())
    assert ADT_DATA_READER not in everything
    # Besides role ids, only app-auth.bicep's placeholder that matches no caller.
    assert set(GUID.findall(everything)) <= set(ROLE_IDS.values()) | {NO_CALLER}


def test_role_assignments_have_deterministic_names_and_explicit_principal_types() -> None:
    assignments = [
        (f.path.name, body) for f in all_files() for _, body in f.resources("Microsoft.Authorization/roleAssignments@")
    ]
    # storage (identity, optional user, optional operators), monitoring, ADT (the app, optional
    # operators), the queue Logic App
    assert len(assignments) == 7
    for name, body in assignments:
        assert text(path(body, "name")).startswith("guid("), name
        props = properties(path(body, "properties"))
        assert "principalType" in props and "subscriptionResourceId(" in text(props["roleDefinitionId"]), name


def module(bicep: BicepFile, wanted: str) -> object:
    [node] = [node for name, node, _ in bicep.declarations("module_declaration") if name == wanted]
    return node


def test_adt_role_is_granted_in_the_instances_own_resource_group() -> None:
    access = module(load("main.bicep"), "adtAccess")
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
    scale = path(config, "scaleAndConcurrency")
    assert set(properties(scale)) == {"maximumInstanceCount", "instanceMemoryMB", "triggers"}
    assert text(path(scale, "triggers", "http", "perInstanceConcurrency")) == "httpPerInstanceConcurrency"
    assert "'functionapp,linux'" in text(path(site, "kind")) or text(path(site, "kind")) == "functionapp,linux"


def test_monitoring_has_local_auth_off() -> None:
    monitoring = load("modules/monitoring.bicep")
    [(_, component)] = monitoring.resources("Microsoft.Insights/components@")
    assert text(path(component, "properties", "DisableLocalAuth")) == "true"


def test_no_secrets_in_outputs() -> None:
    for bicep in all_files():
        secure = {
            name
            for name, _, decorators in bicep.declarations("parameter_declaration")
            if any("secure()" in d for d in decorators)
        }
        for name, node, _ in bicep.declarations("output_declaration"):
            body = text(node)
            assert not re.search(r"(?i)listkeys|connectionstring|accountkey|password|secret", body), (bicep.path, name)
            assert not any(re.search(rf"\b{s}\b", body) for s in secure), (bicep.path, name)


def test_main_parameters_are_documented_and_match_the_parameters_file() -> None:
    main = load("main.bicep")
    params = {name: decorators for name, _, decorators in main.declarations("parameter_declaration")}
    assert all(any(d.startswith("@description(") for d in decorators) for decorators in params.values())
    assert not [name for name, decorators in params.items() if "@secure()" in decorators]  # no secret to pass
    assert set(params) >= {
        "adtInstanceMode",
        "adtInstanceName",
        "adtResourceGroupName",
        "adtRole",
        "maximumInstanceCount",
        "instanceMemoryMB",
        "principalId",
        "principalType",
        "deployLogicApp",
        "alertEmail",
        "apiAudience",
        "apiClientId",
        "apiCallerObjectIds",
        "apiCallerAppIds",
    }
    file_params = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert set(file_params) <= set(params)


def workflows() -> dict[str, object]:
    logic = load("modules/logicapp.bicep")
    return {text(path(body, "name")): body for _, body in logic.resources("Microsoft.Logic/workflows@")}


def test_logic_app_signs_in_with_its_managed_identity_and_carries_no_key() -> None:
    logic = load("modules/logicapp.bicep")
    workflow = workflows()["name"]
    assert text(path(workflow, "identity", "type")) == "SystemAssigned"
    action = path(workflow, "properties", "definition", "actions", "Cancel_import_job")
    assert text(path(action, "type")) == "Http"  # the built-in Function action supports only .NET and Node
    inputs = path(action, "inputs")
    assert "/cancel" in text(path(inputs, "uri"))
    assert set(properties(path(inputs, "queries"))) == {"wait"}  # no code=, nothing secret in the URL
    assert text(path(inputs, "authentication", "type")) == "ManagedServiceIdentity"
    assert text(path(inputs, "authentication", "audience")) == "apiAudience"
    assert "parameters" not in properties(path(workflow, "properties"))
    source = logic.source + load("main.bicep").source
    for gone in ("functionKey", "listKeys", "x-functions-key", "code:", "@secure()"):
        assert gone not in source, gone
    assert "output principalId string = workflow.identity.principalId" in logic.source
    # main.bicep puts that identity on the API's allow-list.
    assert "deployLogicApp ? [logicApp!.outputs.principalId] : []" in variable(load("main.bicep"), "apiCallers")


def auth_settings() -> object:
    [(_, body)] = load("modules/app-auth.bicep").resources("Microsoft.Web/sites/config@")
    assert text(path(body, "name")) == "authsettingsV2"
    return path(body, "properties")


def test_app_service_authentication_is_deployed_by_default_and_enforced() -> None:
    settings = auth_settings()
    assert text(path(settings, "platform", "enabled")) == "true"  # else applied but not enforced (bicep#12220)
    assert text(path(settings, "globalValidation", "requireAuthentication")) == "true"
    assert text(path(settings, "globalValidation", "unauthenticatedClientAction")) == "Return401"
    aad = path(settings, "identityProviders", "azureActiveDirectory")
    assert text(path(aad, "enabled")) == "true"
    assert text(path(aad, "registration", "openIdIssuer")) == "issuer"
    assert "https://sts.windows.net/${tenant().tenantId}/" in load("modules/app-auth.bicep").source
    assert text(path(aad, "validation", "allowedAudiences")).split() == ["[", "audience", "]"]
    main = load("main.bicep")
    [auth_module] = [node for name, node, _ in main.declarations("module_declaration") if name == "appAuth"]
    assert "if (" not in text(auth_module).split("{", 1)[0]  # always deployed, not behind a switch
    defaults = params_of(main)
    assert text(defaults["apiAudience"][0]).endswith("'https://management.azure.com'")
    assert parameters_file()["apiAudience"] == "${API_AUDIENCE=https://management.azure.com}"


def test_the_allow_list_is_always_set_so_a_valid_token_alone_is_not_enough() -> None:
    """With audiences only, anyone in the tenant with an ARM token would get in: the list of
    object ids is never empty (a placeholder that matches no one stands in)."""
    policy = path(
        auth_settings(), "identityProviders", "azureActiveDirectory", "validation", "defaultAuthorizationPolicy"
    )
    assert (
        text(path(policy, "allowedPrincipals", "identities")) == "empty(allowedObjectIds) ? [nobody] : allowedObjectIds"
    )
    assert f"var nobody = '{NO_CALLER}'" in load("modules/app-auth.bicep").source
    assert text(path(policy, "allowedApplications")) == "empty(allowedApplicationIds) ? null : allowedApplicationIds"
    callers = variable(load("main.bicep"), "apiCallers")
    assert "listedCallers" in callers and "empty(principalId) ? [] : [principalId]" in callers
    assert parameters_file()["apiCallerObjectIds"] == "${API_CALLER_OBJECT_IDS}"
    assert parameters_file()["principalId"] == "${AZURE_PRINCIPAL_ID}"


def test_the_app_is_told_authentication_is_in_front_and_which_tenant_it_accepts() -> None:
    settings = app_settings()
    assert text(settings["HTTP_CALLER_AUTHENTICATION"]) == "platform"
    assert text(settings["WEBSITE_AUTH_AAD_ALLOWED_TENANTS"]) == "tenant().tenantId"


def test_no_function_key_is_made_or_needed_anywhere() -> None:
    from tests.helpers import functions_by_name

    everything = "\n".join(f.source for f in all_files()) + (REPO_ROOT / "azure.yaml").read_text()
    hooks = "".join(p.read_text() for p in (INFRA / "hooks").glob("*"))
    assert "keys set" not in hooks and "LOGIC_APP_FUNCTION_KEY" not in hooks
    assert not re.search(r"^\s*az\s", hooks, re.M)  # CI signs in azd only: no hook may call az
    assert "functionKeys" not in everything and "LOGIC_APP_FUNCTION_KEY" not in everything
    bindings = [b for fn in functions_by_name().values() for b in json.loads(fn.get_function_json())["bindings"]]
    assert {b["authLevel"] for b in bindings if b["type"] == "httpTrigger"} == {"ANONYMOUS"}


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


def test_nothing_gitignore_lists_is_deployed() -> None:
    """A local azd deploy after make mutate uploaded mutants/ (issue 30): every cache and
    build product git ignores stays out of the package too."""
    ignored = {line for line in (INFRA.parent / ".funcignore").read_text().split() if not line.startswith("#")}
    kept_out_of_git = {
        line for line in (INFRA.parent / ".gitignore").read_text().split() if line and not line.startswith("#")
    }
    assert kept_out_of_git <= ignored, kept_out_of_git - ignored


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


# Issue 12: deploy it safely for real. Each test below fails on the template before it.


def params_of(bicep: BicepFile) -> dict[str, tuple[object, list[str]]]:
    return {name: (node, decorators) for name, node, decorators in bicep.declarations("parameter_declaration")}


def main_params() -> dict[str, tuple[object, list[str]]]:
    return params_of(load("main.bicep"))


def parameters_file() -> dict[str, str]:
    return {k: v["value"] for k, v in json.loads((INFRA / "main.parameters.json").read_text())["parameters"].items()}


def variable(bicep: BicepFile, wanted: str) -> str:
    [node] = [node for name, node, _ in bicep.declarations("variable_declaration") if name == wanted]
    return text(node)


def has_default(param_node: object) -> bool:
    return "=" in text(param_node)


def test_the_developer_principal_type_comes_from_azd() -> None:
    """1. Under a service principal (CI) a hard-coded 'User' is UnmatchedPrincipalType."""
    _, decorators = main_params()["principalType"]
    assert "@allowed(['User', 'ServicePrincipal', 'Group'])" in decorators
    assert parameters_file()["principalType"] == "${AZURE_PRINCIPAL_TYPE=User}"
    assert "userPrincipalType: principalType" in text(module(load("main.bicep"), "storage"))
    storage = load("modules/storage.bicep")
    [(_, user)] = [
        (k, b)
        for k, b in storage.resources("Microsoft.Authorization/roleAssignments@")
        if "userPrincipalId" in text(path(b, "properties", "principalId"))
    ]
    assert text(path(user, "properties", "principalType")) == "userPrincipalType"


def test_the_adt_instance_is_a_choice_made_before_anything_is_deployed() -> None:
    """2. No default: azd asks for ADT_INSTANCE_MODE; an incomplete choice fails validation
    with a message naming the setting, in the access module's name and scope (part of its
    deployment id, evaluated before any resource is created)."""
    node, decorators = main_params()["adtInstanceMode"]
    assert not has_default(node)
    assert "@allowed(['existing', 'new'])" in decorators
    assert any("ADT_INSTANCE_MODE" in d for d in decorators)
    assert parameters_file()["adtInstanceMode"] == "${ADT_INSTANCE_MODE}"  # no "=default": azd prompts
    main = load("main.bicep")
    name_rule, group_rule = variable(main, "adtName"), variable(main, "adtResourceGroup")
    assert re.search(r"empty\(adtInstanceName\) \? fail\('[^)]*ADT_INSTANCE_NAME", name_rule)
    assert re.search(r"fail\('[^)]*ADT_RESOURCE_GROUP", group_rule)
    access = text(module(main, "adtAccess"))
    assert "scope: resourceGroup(adtResourceGroup)" in access and "adtInstanceName: adtName" in access
    assert "createAdtInstance" not in main.source  # the old switch, whose default led to an empty name


def test_the_app_gets_a_custom_role_with_only_the_two_import_job_data_actions() -> None:
    """4. Least privilege on ADT: the custom role by default, Data Owner only on request."""
    access = load("modules/adt-access.bicep")
    [(_, role)] = access.resources("Microsoft.Authorization/roleDefinitions@")
    props = properties(path(role, "properties"))
    assert text(props["type"]) == "CustomRole"
    [permission] = [n for n in props["permissions"].children if n.type == "object"]
    perms = properties(permission)
    assert text(perms["dataActions"]) == "importJobDataActions"
    assert {text(n) for n in walk(perms["actions"]) if n.type == "string"} == set()
    actions = [
        text(n)
        for n in walk(
            next(
                node for name, node, _ in access.declarations("variable_declaration") if name == "importJobDataActions"
            )
        )
        if n.type == "string"
    ]
    assert tuple(actions) == ADT_DATA_ACTIONS
    assert text(props["assignableScopes"]).split() == ["[", "resourceGroup().id", "]"]
    assignments = access.resources("Microsoft.Authorization/roleAssignments@")
    assert len(assignments) == 2  # the app's, and the operators' (the same role)
    assert all("roleGuid" in text(path(a, "properties", "roleDefinitionId")) for _, a in assignments)
    assert variable(access, "roleGuid").endswith("adtRole == 'custom' ? customRoleName : adtDataOwner")
    for bicep in (access, load("main.bicep")):
        node, decorators = params_of(bicep)["adtRole"]
        assert text(node).endswith("= 'custom'") and "@allowed(['custom', 'dataOwner'])" in decorators
    assert parameters_file()["adtRole"] == "${ADT_ROLE=custom}"
    assert "adtRole: adtRole" in text(module(load("main.bicep"), "adtAccess"))


def test_the_developer_principal_gets_only_queue_data_contributor() -> None:
    """5. The developer or pipeline principal needs the queues, not the host's blobs and tables."""
    storage = load("modules/storage.bicep")
    user = [
        b
        for _, b in storage.resources("Microsoft.Authorization/roleAssignments@")
        if "userPrincipalId" in text(path(b, "properties", "principalId"))
    ]
    assert len(user) == 1
    assert "for " not in text(user[0].parent)  # one assignment, not a loop over the identity's roles
    assert text(path(user[0], "properties", "roleDefinitionId")).endswith("roles.storageQueueDataContributor)")


def test_operators_get_the_apps_adt_role_and_the_queue_role_the_cli_needs() -> None:
    """An operators' principal (a group by default): cancel, status and list on the instance
    with the app's least-privilege role; enqueue, results, failures and redrive on the queues."""
    found = {}
    for relative in ("modules/adt-access.bicep", "modules/storage.bicep"):
        bicep = load(relative)
        [assignment] = [
            b
            for _, b in bicep.resources("Microsoft.Authorization/roleAssignments@")
            if text(path(b, "properties", "principalId")) == "operatorsPrincipalId"
        ]
        assert text(assignment.parent).startswith("if (!empty(operatorsPrincipalId)")  # only when one is given
        assert text(path(assignment, "properties", "principalType")) == "operatorsPrincipalType"
        found[relative] = text(path(assignment, "properties", "roleDefinitionId"))
        node, decorators = params_of(bicep)["operatorsPrincipalType"]
        assert text(node).endswith("= 'Group'") and "@allowed(['Group', 'User', 'ServicePrincipal'])" in decorators
    assert found["modules/adt-access.bicep"].endswith("roleGuid)")  # the custom role, as the app's
    assert found["modules/storage.bicep"].endswith("roles.storageQueueDataContributor)")
    main = load("main.bicep")
    for name in ("storage", "adtAccess"):
        assert "operatorsPrincipalId: operatorsPrincipalId" in text(module(main, name))
    assert parameters_file()["operatorsPrincipalId"] == "${OPERATORS_PRINCIPAL_ID}"
    assert parameters_file()["operatorsPrincipalType"] == "${OPERATORS_PRINCIPAL_TYPE=Group}"


def test_basic_auth_publishing_is_off() -> None:
    """6. No FTP or SCM password can publish; azd deploys to Flex with Entra tokens."""
    app = load("modules/functionapp.bicep")
    policies = app.resources("Microsoft.Web/sites/basicPublishingCredentialsPolicies@")
    assert sorted(text(path(b, "name")) for _, b in policies) == ["ftp", "scm"]
    for _, body in policies:
        assert text(path(body, "properties", "allow")) == "false"
        assert text(path(body, "parent")) == "site"


def test_an_existing_adt_instance_is_never_in_the_group_azd_down_deletes_by_default() -> None:
    """7. For an existing instance, an empty or equal resource group fails unless accepted."""
    main = load("main.bicep")
    group_rule = variable(main, "adtResourceGroup")
    assert "adtGroupIsAppGroup && !allowAdtInAppResourceGroup ? fail(" in group_rule
    assert "azd down" in group_rule
    same = variable(main, "adtGroupIsAppGroup")
    assert "empty(adtResourceGroupName)" in same and "toLower(resourceGroup().name)" in same
    node, _ = main_params()["allowAdtInAppResourceGroup"]
    assert text(node).endswith("= false")
    assert parameters_file()["allowAdtInAppResourceGroup"] == "${ADT_IN_APP_RESOURCE_GROUP=false}"
    readme = (INFRA.parent / "README.md").read_text()
    deploy = readme[readme.index("## Deploy") :]
    assert "azd down" in deploy[: deploy.index("\n## ", 3)]


def test_the_logic_app_answers_asynchronously_on_success_and_on_failure() -> None:
    """8. A Request trigger must answer within 120 s; the cancel may take an hour."""
    actions = path(workflows()["name"], "properties", "definition", "actions")
    ok, failed = path(actions, "Response"), path(actions, "Failure_response")
    for response in (ok, failed):
        assert text(path(response, "type")) == "Response"
        assert text(path(response, "operationOptions")) == "Asynchronous"
    assert "'Succeeded'" in text(path(ok, "runAfter", "Cancel_import_job"))
    after = {text(n) for n in walk(path(failed, "runAfter", "Cancel_import_job")) if n.type == "string"}
    assert after == {"Failed", "TimedOut"}
    inputs = path(failed, "inputs")
    assert "outputs(\\'Cancel_import_job\\')?[\\'statusCode\\']" in text(path(inputs, "statusCode"))
    assert text(path(inputs, "body")).startswith("@coalesce(body(\\'Cancel_import_job\\')")


def test_the_alerts_are_log_alerts_over_15_minutes_split_by_severity_with_an_action_group() -> None:
    """Issue 30: the platform's failures page (severity 2), the callers' own get a rule of
    their own (3), a backstop catches invocations that never logged (1), and the pacing
    store's fail-open is counted (3). The queries themselves: tests/test_kql.py."""
    alerts = load("modules/alerts.bicep")
    [(_, rule)] = alerts.resources("Microsoft.Insights/scheduledQueryRules@")
    props = properties(path(rule, "properties"))
    assert text(path(rule, "kind")) == "LogAlert"
    assert text(props["windowSize"]) == "PT15M" and text(props["scopes"]).split() == ["[", "applicationInsightsId", "]"]
    assert text(props["severity"]) == "rule.severity" and text(props["displayName"]) == "rule.displayName"
    [criterion] = [n for n in path(rule, "properties", "criteria", "allOf").children if n.type == "object"]
    assert text(path(criterion, "query")) == "rule.query"
    assert text(path(criterion, "operator")) == "GreaterThan" and text(path(criterion, "threshold")) == "0"
    assert text(path(criterion, "timeAggregation")) == "Count"
    severities = dict(
        re.findall(r"name: '([\w-]+)'\n\s+displayName: .*\n\s+description: .*\n\s+severity: (\d)", alerts.source)
    )
    assert severities == {"failed-cancels": "2", "caller-mistakes": "3", "silent-failures": "1", "pacing-fallback": "3"}
    assert "operators.id" in text(path(rule, "properties", "actions", "actionGroups"))
    [(_, group)] = alerts.resources("Microsoft.Insights/actionGroups@")
    assert text(path(group, "properties", "emailReceivers")).startswith("empty(alertEmail) ? [] :")
    assert len(text(path(group, "properties", "groupShortName"))) <= 12
    wiring = text(module(load("main.bicep"), "alerts"))
    assert "alertEmail: alertEmail" in wiring and parameters_file()["alertEmail"] == "${ALERT_EMAIL}"
    assert "applicationInsightsId: monitoring.outputs.applicationInsightsId" in wiring


def test_the_custom_role_grants_both_read_names_and_otherwise_only_the_cancel() -> None:
    """Until it is known which read the data plane checks on a GET, both names are granted."""
    reads = {"Microsoft.DigitalTwins/jobs/imports/read", "Microsoft.DigitalTwins/jobs/import/read"}
    assert reads <= set(ADT_DATA_ACTIONS)
    assert set(ADT_DATA_ACTIONS) - reads == {"Microsoft.DigitalTwins/jobs/imports/cancel/action"}


def test_operators_who_are_the_deployer_get_one_queue_assignment_not_two() -> None:
    """OPERATORS_PRINCIPAL_ID = AZURE_PRINCIPAL_ID would name two assignments alike (issue 30)."""
    storage = load("modules/storage.bicep")
    [operators] = [
        b
        for _, b in storage.resources("Microsoft.Authorization/roleAssignments@")
        if text(path(b, "properties", "principalId")) == "operatorsPrincipalId"
    ]
    assert "operatorsPrincipalId != userPrincipalId" in text(operators.parent).split("{", 1)[0]


def test_the_custom_roles_name_is_unique_in_the_tenant_and_its_id_stable() -> None:
    """Two subscriptions with a resource group of the same name must not collide (issue 30)."""
    access = load("modules/adt-access.bicep")
    [definition] = [b for _, b in access.resources("Microsoft.Authorization/roleDefinitions@")]
    role_name = text(path(definition, "properties", "roleName"))
    assert "uniqueString(resourceGroup().id)" in role_name and "resourceGroup().name" in role_name
    assert text(path(definition, "name")) == "customRoleName"
    assert "var customRoleName = guid(resourceGroup().id," in access.source


def test_zone_redundancy_is_a_switch_that_brings_zrs_storage_with_it() -> None:
    main = load("main.bicep")
    node, _ = params_of(main)["zoneRedundant"]
    assert text(node).endswith("= false")
    assert "skuName: zoneRedundant ? 'Standard_ZRS' : storageSku" in text(module(main, "storage"))
    assert "zoneRedundant: zoneRedundant" in text(module(main, "functionApp"))
    [(_, plan)] = load("modules/functionapp.bicep").resources("Microsoft.Web/serverfarms@")
    assert text(path(plan, "properties", "zoneRedundant")) == "zoneRedundant"
    assert parameters_file()["zoneRedundant"] == "${ZONE_REDUNDANT=false}"


def test_the_instance_cap_is_an_azd_setting() -> None:
    assert parameters_file()["maximumInstanceCount"] == "${MAXIMUM_INSTANCE_COUNT=10}"
    assert parameters_file()["httpPerInstanceConcurrency"] == "${HTTP_PER_INSTANCE_CONCURRENCY=16}"
