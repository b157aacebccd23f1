"""The GitHub workflows lint clean (actionlint) and match GitHub's workflow schema; CI runs
the README's test command, and the deployment signs in with OIDC and holds no secrets."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((REPO_ROOT / ".github" / "workflows").glob("*.yml"))
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    assert found, f"{name} is not installed (requirements-dev.txt)"
    return found


def actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("actionlint"), "-no-color", *map(str, files)], capture_output=True, text=True, timeout=60, check=False
    )


def schema_check(*files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_both_workflows_exist() -> None:
    assert {p.name for p in WORKFLOWS} == {"ci.yml", "azure-dev.yml"}


def test_workflows_lint_clean_with_actionlint() -> None:
    result = actionlint(*WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflows_match_the_github_workflow_schema() -> None:
    result = schema_check(*WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


BROKEN = """on: push
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - run: echo ${{ github.event.nope.nope }}
        shell: nonsense
      - uses: actions/checkout@v4
        with:
          not-an-input: true
"""


def test_the_lint_and_the_schema_check_can_fail(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(BROKEN)
    assert actionlint(broken).returncode != 0
    missing_runs_on = tmp_path / "no-runner.yml"
    missing_runs_on.write_text("on: push\njobs:\n  test:\n    steps:\n      - run: true\n")
    assert schema_check(missing_runs_on).returncode != 0


def readme_test_command() -> str:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    [command] = re.findall(r"^(make test)\s+#", readme, re.M)
    return command


def run_steps(name: str) -> list[str]:
    return re.findall(r"^\s+run: (.+)$", (REPO_ROOT / ".github" / "workflows" / name).read_text(), re.M)


def test_ci_runs_the_readmes_test_command_and_so_does_dot_ci_run() -> None:
    command = readme_test_command()
    assert command in run_steps("ci.yml")
    assert (REPO_ROOT / ".ci" / "run").read_text().strip().splitlines()[-1] == command
    ci = (REPO_ROOT / ".github" / "workflows" / "ci.yml").read_text()
    assert 'python-version: "3.11"' in ci and 'node-version: "20"' in ci


def test_the_deployment_uses_oidc_and_no_secrets() -> None:
    workflow = (REPO_ROOT / ".github" / "workflows" / "azure-dev.yml").read_text()
    assert re.search(r"^\s+id-token: write$", workflow, re.M)
    assert "${{ secrets." not in workflow
    assert "--federated-credential-provider github" in workflow
    steps = run_steps("azure-dev.yml")
    assert "azd provision --no-prompt" in steps and "azd deploy --no-prompt" in steps


def test_the_deployment_passes_every_setting_the_parameters_file_reads() -> None:
    """azd cannot prompt in CI: each variable main.parameters.json reads must be in the job's
    environment, except those azd sets itself."""
    parameters = (REPO_ROOT / "infra" / "main.parameters.json").read_text()
    wanted = set(re.findall(r"\$\{([A-Z_]+)", parameters)) - {"AZURE_PRINCIPAL_ID", "AZURE_PRINCIPAL_TYPE"}
    workflow = (REPO_ROOT / ".github" / "workflows" / "azure-dev.yml").read_text()
    given = set(re.findall(r"^\s+([A-Z_]+): \$\{\{ vars\.\1 \}\}$", workflow, re.M))
    assert wanted <= given, wanted - given
    json.loads(parameters)  # and the file is still JSON


@pytest.mark.parametrize("name", ["ci.yml", "azure-dev.yml"])
def test_workflows_grant_least_permissions(name: str) -> None:
    workflow = (REPO_ROOT / ".github" / "workflows" / name).read_text()
    assert re.search(
        r"^permissions:\n  contents: read$|^permissions:\n  id-token: write\n  contents: read$", workflow, re.M
    )


# What azd pipeline config creates for GitHub: federated credentials for these subjects only
# (azure-dev's GitHub provider, buildAllSubjects), and these repository variables by itself.
AZD_SUBJECTS = {"ref:refs/heads/{branch}", "pull_request"}
AZD_OWN_VARIABLES = {"AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_SUBSCRIPTION_ID", "AZURE_ENV_NAME", "AZURE_LOCATION"}


def oidc_subjects(workflow: dict) -> set[str]:
    """The subjects (after "repo:OWNER/REPO:") of the OIDC tokens the workflow's jobs get."""
    triggers = workflow.get("on", workflow.get(True))  # PyYAML reads the key `on` as True
    subjects = set()
    for job in workflow["jobs"].values():
        if "environment" in job:
            environment = job["environment"]
            subjects.add(f"environment:{environment.get('name') if isinstance(environment, dict) else environment}")
            continue
        for trigger in triggers:
            subjects.add("pull_request" if trigger == "pull_request" else "ref:refs/heads/{branch}")
    return subjects


def load_yaml(path: Path) -> dict:
    import yaml

    return yaml.safe_load(path.read_text())


def test_the_deploy_workflows_oidc_subject_is_one_azd_creates_a_credential_for() -> None:
    workflow = load_yaml(REPO_ROOT / ".github" / "workflows" / "azure-dev.yml")
    assert oidc_subjects(workflow) <= AZD_SUBJECTS
    # The check can fail: a job in a GitHub environment gets a subject azd does not create.
    workflow["jobs"]["deploy"]["environment"] = "production"
    assert oidc_subjects(workflow) == {"environment:production"}


def test_azure_yaml_declares_every_repository_variable_the_deploy_workflow_reads() -> None:
    workflow = (REPO_ROOT / ".github" / "workflows" / "azure-dev.yml").read_text()
    read = set(re.findall(r"vars\.([A-Z_]+)", workflow))
    declared = set(load_yaml(REPO_ROOT / "azure.yaml")["pipeline"]["variables"])
    assert declared == read - AZD_OWN_VARIABLES
