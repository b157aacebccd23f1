"""The private-networking option (VNET_ENABLED), both ways: which modules main.bicep deploys
and what their parameters say under each setting, read from the Bicep itself. No Bicep
compiler can be installed here, so the conditions and the simple ternaries that decide
it are evaluated by a small reader of Bicep's boolean expressions (tested below too)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.bicep import BicepFile, find_object, load, path, properties, text

MAIN = load("main.bicep")
DEFAULTS = {
    "vnetEnabled": False,
    "adtInstanceMode": "existing",
    "adtPrivateEndpoint": False,
    "adtPrivateEndpointAutoApprove": False,
    "deployLogicApp": True,
    "storageAllowedIpAddresses": "",
}


def _python(expression: str) -> str:
    """Bicep's boolean and ternary operators as Python's (enough for this template's conditions)."""
    expression = expression.strip()
    depth, question = 0, None
    for i, char in enumerate(expression):
        depth += char in "([{"
        depth -= char in ")]}"
        if depth == 0 and char == "?" and expression[i - 1] != "!" and question is None:
            question = i
        elif depth == 0 and char == ":" and question is not None:
            condition, yes, no = expression[:question], expression[question + 1 : i], expression[i + 1 :]
            return f"(({_python(yes)}) if ({_python(condition)}) else ({_python(no)}))"
    expression = re.sub(r"!(?!=)", " not ", expression)
    return expression.replace("&&", " and ").replace("||", " or ")


def variables() -> dict[str, str]:
    return {name: text(node).split("=", 1)[1] for name, node, _ in MAIN.declarations("variable_declaration")}


def evaluate(expression: str, settings: dict[str, Any]) -> Any:
    """The value of a Bicep expression over parameters and main.bicep's own variables."""
    names: dict[str, Any] = {"empty": lambda value: not value, "true": True, "false": False}
    names.update(settings)
    definitions = variables()
    for name in re.findall(r"\b[a-zA-Z_]\w*\b", expression):
        if name not in names and name in definitions:
            names[name] = evaluate(definitions[name], settings)
    return eval(_python(expression), {"__builtins__": {}}, names)


def deployed(**overrides: Any) -> set[str]:
    """The modules main.bicep deploys with these parameters."""
    settings = {**DEFAULTS, **overrides}
    found = set()
    for name, node, _ in MAIN.declarations("module_declaration"):
        condition = re.search(r"=\s*(?:\[for [^:]+:\s*)?if \((.+?)\) \{", text(node).split("\n")[0])
        if condition is None or evaluate(condition.group(1), settings):
            found.add(name)
    return found


def module_param(name: str, param: str) -> str:
    [node] = [node for found, node, _ in MAIN.declarations("module_declaration") if found == name]
    body = find_object(node)
    assert body is not None
    return text(path(body, "params", param))


def parameter(bicep: BicepFile, name: str) -> tuple[Any, list[str]]:
    [found] = [
        (node, decorators) for each, node, decorators in bicep.declarations("parameter_declaration") if each == name
    ]
    return found


def test_the_expression_reader_reads_what_the_template_uses() -> None:
    assert evaluate("!a && (b || c)", {"a": False, "b": False, "c": True}) is True
    assert evaluate("a == 'x' ? 'y' : 'z'", {"a": "x"}) == "y"
    assert evaluate("a && empty(b) ? 'Disabled' : 'Enabled'", {"a": True, "b": []}) == "Disabled"
    assert evaluate("a != 'x'", {"a": "y"}) is True


def test_off_by_default_and_nothing_private_is_deployed() -> None:
    [(node, decorators)] = [
        (n, d) for name, n, d in MAIN.declarations("parameter_declaration") if name == "vnetEnabled"
    ]
    assert text(node).endswith("= false") and any(d.startswith("@description(") for d in decorators)
    off = deployed()
    assert {"network", "storageEndpoints", "adtEndpoint"}.isdisjoint(off)
    assert {"identity", "storage", "functionApp", "adtAccess", "logicApp"} <= off
    assert evaluate(module_param("storage", "privateOnly"), DEFAULTS) is False
    assert evaluate(module_param("functionApp", "virtualNetworkSubnetId").split("?")[0], DEFAULTS) is False
    assert evaluate(module_param("logicApp", "deployQueueWorkflow"), DEFAULTS) is True


@pytest.mark.parametrize("mode", ["new", "existing"])
def test_on_the_app_integrates_and_storage_gets_three_private_endpoints(mode: str) -> None:
    on = deployed(vnetEnabled=True, adtInstanceMode=mode)
    assert {"network", "storageEndpoints", "functionApp"} <= on
    settings = {**DEFAULTS, "vnetEnabled": True, "adtInstanceMode": mode}
    assert evaluate(module_param("storage", "privateOnly"), settings) is True
    assert "network!.outputs.appSubnetId" in module_param("functionApp", "virtualNetworkSubnetId")
    assert re.search(r"storageServices = \['blob', 'queue', 'table'\]", MAIN.source)
    endpoints = text(next(n for name, n, _ in MAIN.declarations("module_declaration") if name == "storageEndpoints"))
    assert "groupId: service" in endpoints
    assert "dnsZoneName: 'privatelink.${service}.${environment().suffixes.storage}'" in endpoints
    assert "dependsOn: [\n    storageEndpoints\n  ]" in text(
        next(n for name, n, _ in MAIN.declarations("module_declaration") if name == "functionApp")
    )


def test_a_new_adt_instance_gets_a_private_endpoint_and_no_public_access() -> None:
    settings = {**DEFAULTS, "vnetEnabled": True, "adtInstanceMode": "new"}
    assert "adtEndpoint" in deployed(**settings)
    assert evaluate(module_param("newAdt", "publicNetworkAccess"), settings) == "Disabled"
    assert evaluate(module_param("newAdt", "publicNetworkAccess"), {**settings, "vnetEnabled": False}) == "Enabled"
    assert module_param("adtEndpoint", "groupId") == "API"
    assert module_param("adtEndpoint", "dnsZoneName") == "privatelink.digitaltwins.azure.net"


def test_an_existing_adt_instance_gets_an_endpoint_only_when_asked_and_keeps_its_public_access() -> None:
    assert "adtEndpoint" not in deployed(vnetEnabled=True, adtInstanceMode="existing")
    assert "adtEndpoint" in deployed(vnetEnabled=True, adtInstanceMode="existing", adtPrivateEndpoint=True)
    assert "adtEndpoint" not in deployed(vnetEnabled=False, adtInstanceMode="existing", adtPrivateEndpoint=True)
    assert "publicNetworkAccess" not in load("modules/adt-access.bicep").source  # not this deployment's instance


def test_the_queue_workflow_is_left_out_when_storage_is_private() -> None:
    """Consumption Logic Apps run outside any VNet; the HTTP workflow still reaches the app."""
    settings = {**DEFAULTS, "vnetEnabled": True}
    assert "logicApp" in deployed(**settings)
    assert evaluate(module_param("logicApp", "deployQueueWorkflow"), settings) is False
    logic = load("modules/logicapp.bicep")
    conditional = {body_type for body_type, _ in logic.resources() if body_type.startswith("Microsoft.Logic/")}
    assert conditional == {"Microsoft.Logic/workflows@2019-05-01"}
    assert "resource queueWorkflow 'Microsoft.Logic/workflows@2019-05-01' = if (deployQueueWorkflow)" in logic.source
    assert "resource queueSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (deployQueueWorkflow)" in (
        logic.source
    )
    [output] = [text(n) for name, n, _ in MAIN.declarations("output_declaration") if name == "LOGIC_APP_QUEUE_NAME"]
    assert "deployLogicApp && !vnetEnabled" in output


def test_the_app_subnet_is_delegated_as_flex_consumption_requires() -> None:
    network = load("modules/network.bicep")
    [(_, vnet)] = network.resources("Microsoft.Network/virtualNetworks@")
    subnets = path(vnet, "properties", "subnets")
    assert "serviceName: 'Microsoft.App/environments'" in text(subnets)
    assert "privateEndpointNetworkPolicies: 'Disabled'" in text(subnets)


def test_a_private_endpoint_comes_with_its_dns_zone_linked_to_the_vnet() -> None:
    endpoint = load("modules/private-endpoint.bicep")
    kinds = {kind.split("@")[0] for kind, _ in endpoint.resources()}
    assert kinds == {
        "Microsoft.Network/privateDnsZones",
        "Microsoft.Network/privateDnsZones/virtualNetworkLinks",
        "Microsoft.Network/privateEndpoints",
        "Microsoft.Network/privateEndpoints/privateDnsZoneGroups",
    }
    [(_, zone)] = endpoint.resources("Microsoft.Network/privateDnsZones@")
    assert text(path(zone, "location")) == "global"
    [(_, link)] = endpoint.resources("Microsoft.Network/privateDnsZones/virtualNetworkLinks@")
    assert text(path(link, "properties", "registrationEnabled")) == "false"


@pytest.mark.parametrize(
    ("private", "ips", "access"),
    [(False, [], "Enabled"), (True, [], "Disabled"), (True, ["203.0.113.7"], "Enabled")],
)
def test_storage_answers_only_its_endpoints_and_the_allowed_addresses(
    private: bool, ips: list[str], access: str
) -> None:
    storage = load("modules/storage.bicep")
    [(_, account)] = storage.resources("Microsoft.Storage/storageAccounts@")
    props = properties(path(account, "properties"))
    settings = {"privateOnly": private, "allowedIpAddresses": ips}
    assert evaluate(text(props["publicNetworkAccess"]), settings) == access
    acls = evaluate(text(props["networkAcls"]), {**settings, "privateAcls": "private", "openAcls": "open"})
    assert acls == ("private" if private else "open")
    assert "defaultAction: 'Deny'\n  bypass: 'None'\n  ipRules: allowedIpRules" in storage.source
    assert "var allowedIpRules = [for ip in allowedIpAddresses: {\n  value: ip\n  action: 'Allow'" in storage.source


def test_the_allowed_addresses_are_a_comma_separated_setting() -> None:
    assert "split(storageAllowedIpAddresses, ',')" in module_param("storage", "allowedIpAddresses")


def test_zone_redundant_storage_is_offered_and_locally_redundant_stays_the_default() -> None:
    for relative, name in (("main.bicep", "storageSku"), ("modules/storage.bicep", "skuName")):
        [(node, decorators)] = [
            (n, d) for found, n, d in load(relative).declarations("parameter_declaration") if found == name
        ]
        assert "@allowed(['Standard_LRS', 'Standard_ZRS'])" in decorators
        assert text(node).endswith("= 'Standard_LRS'")
    assert "sku: { name: skuName }" in load("modules/storage.bicep").source


def test_http2_is_on() -> None:
    [(_, site)] = load("modules/functionapp.bicep").resources("Microsoft.Web/sites@")
    assert text(path(site, "properties", "siteConfig", "http20Enabled")) == "true"


def test_every_resource_is_in_a_module_so_a_scanner_that_cannot_read_main_loses_nothing() -> None:
    """checkov 3.3's Bicep parser does not know fail(), which main.bicep needs for its early,
    clear errors; with no resource in main.bicep, every resource is still scanned."""
    assert MAIN.resources() == []
    assert "fail(" in MAIN.source
    assert not any("fail(" in load(f"modules/{name}").source for name in ("storage.bicep", "functionapp.bicep"))


def test_an_existing_instances_endpoint_waits_for_its_owner_unless_asked_to_approve_itself() -> None:
    """Without the approval right on an instance that is not the deployment's, automatic
    approval fails with LinkedAuthorizationFailed (issue 30): a manual connection waits."""
    manual = module_param("adtEndpoint", "manualApproval")
    existing = {**DEFAULTS, "vnetEnabled": True, "adtPrivateEndpoint": True}
    assert evaluate(manual, existing) is True
    assert evaluate(manual, {**existing, "adtPrivateEndpointAutoApprove": True}) is False
    assert evaluate(manual, {**existing, "adtInstanceMode": "new"}) is False  # the deployment's own
    endpoint = load("modules/private-endpoint.bicep").source
    assert "manualPrivateLinkServiceConnections: manualApproval ? connections : []" in endpoint
    assert "privateLinkServiceConnections: manualApproval ? [] : connections" in endpoint
