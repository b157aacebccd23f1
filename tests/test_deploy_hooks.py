"""azd's hooks that make the Logic App's function key (infra/hooks): the posix scripts run
here for real, against stand-ins for `az` and `azd` on PATH (neither can be installed
here, and they would reach Azure). The Windows scripts cannot run here (no PowerShell):
they are held to the same calls, names and bounds as the posix ones."""

from __future__ import annotations

import re
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from devtools.azurite import REPO_ROOT

HOOKS = REPO_ROOT / "infra" / "hooks"
KEY = "k" * 48


def stand_in(bin_dir: Path, name: str, fail_times: int = 0) -> Path:
    """An executable that logs its arguments, one call a line, and fails its first calls."""
    log = bin_dir / f"{name}.log"
    script = bin_dir / name
    script.write_text(
        "#!/usr/bin/env bash\n"
        f'echo "$*" >> "{log}"\n'
        f'calls=$(wc -l < "{log}")\n'
        f'if [ "$calls" -le {fail_times} ]; then echo "ERROR: host not ready for key $*" >&2; exit 1; fi\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return log


def run_hook(name: str, bin_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {"PATH": f"{bin_dir}:/usr/bin:/bin", "KEY_RETRY_SECONDS": "0", **env}
    return subprocess.run(
        ["/bin/sh", "-c", f'exec bash "{HOOKS / name}"'], env=environment, capture_output=True, text=True, timeout=60
    )


DEPLOYED = {
    "DEPLOY_LOGIC_APP": "true",
    "AZURE_RESOURCE_GROUP": "rg-test",
    "AZURE_FUNCTION_APP_NAME": "func-test",
    "LOGIC_APP_FUNCTION_KEY": KEY,
}


def test_postdeploy_creates_the_key_on_the_cancel_function(tmp_path: Path) -> None:
    az = stand_in(tmp_path, "az")
    done = run_hook("postdeploy.sh", tmp_path, **DEPLOYED)
    assert done.returncode == 0, done.stderr
    [call] = az.read_text().splitlines()
    assert call.startswith("functionapp function keys set ")
    assert "--resource-group rg-test --name func-test --function-name cancel_import_job_http" in call
    assert f"--key-name logicapp --key-value {KEY}" in call
    assert KEY not in done.stdout + done.stderr


def test_postdeploy_retries_while_the_host_starts(tmp_path: Path) -> None:
    az = stand_in(tmp_path, "az", fail_times=3)
    done = run_hook("postdeploy.sh", tmp_path, **DEPLOYED)
    assert done.returncode == 0
    assert len(az.read_text().splitlines()) == 4
    assert "attempt 4 of 10" in done.stdout
    assert done.stderr.count("failed:") == 3
    assert KEY not in done.stdout + done.stderr  # az's error echoed the key; it is masked


def test_postdeploy_gives_up_after_a_bounded_number_of_attempts(tmp_path: Path) -> None:
    az = stand_in(tmp_path, "az", fail_times=100)
    done = run_hook("postdeploy.sh", tmp_path, KEY_ATTEMPTS="4", **DEPLOYED)
    assert done.returncode == 1
    assert len(az.read_text().splitlines()) == 4
    assert "after 4 attempts" in done.stderr and "azd hooks run postdeploy" in done.stderr
    assert KEY not in done.stdout + done.stderr


@pytest.mark.parametrize("missing", ["AZURE_RESOURCE_GROUP", "AZURE_FUNCTION_APP_NAME", "LOGIC_APP_FUNCTION_KEY"])
def test_postdeploy_says_which_setting_is_missing(tmp_path: Path, missing: str) -> None:
    az = stand_in(tmp_path, "az")
    done = run_hook("postdeploy.sh", tmp_path, **{k: v for k, v in DEPLOYED.items() if k != missing})
    assert done.returncode != 0 and missing in done.stderr
    assert not az.exists()


@pytest.mark.parametrize("hook", ["postdeploy.sh", "preprovision.sh"])
@pytest.mark.parametrize("value", ["false", "", "False"])
def test_without_the_logic_app_the_hooks_do_nothing(tmp_path: Path, hook: str, value: str) -> None:
    az, azd = stand_in(tmp_path, "az"), stand_in(tmp_path, "azd")
    done = run_hook(hook, tmp_path, **{**DEPLOYED, "DEPLOY_LOGIC_APP": value})
    assert done.returncode == 0 and not az.exists() and not azd.exists()


def test_preprovision_makes_a_random_key_once_and_never_prints_it(tmp_path: Path) -> None:
    azd = stand_in(tmp_path, "azd")
    first = run_hook("preprovision.sh", tmp_path, DEPLOY_LOGIC_APP="TRUE")
    second = run_hook("preprovision.sh", tmp_path, DEPLOY_LOGIC_APP="TRUE")
    assert first.returncode == 0 and second.returncode == 0
    calls = azd.read_text().splitlines()
    keys = [re.fullmatch(r"env set LOGIC_APP_FUNCTION_KEY ([A-Za-z0-9]{48})", call).group(1) for call in calls]
    assert len(keys) == 2 and keys[0] != keys[1]
    assert not any(key in first.stdout + first.stderr + second.stdout for key in keys)


def test_preprovision_keeps_a_key_already_in_the_environment(tmp_path: Path) -> None:
    azd = stand_in(tmp_path, "azd")
    done = run_hook("preprovision.sh", tmp_path, DEPLOY_LOGIC_APP="true", LOGIC_APP_FUNCTION_KEY=KEY)
    assert done.returncode == 0 and not azd.exists()


def test_azure_yaml_runs_both_hooks_on_posix_and_windows() -> None:
    hooks = yaml.safe_load((REPO_ROOT / "azure.yaml").read_text())["hooks"]
    for event in ("preprovision", "postdeploy"):
        assert hooks[event]["posix"]["run"] == f"./infra/hooks/{event}.sh"
        assert hooks[event]["windows"]["run"] == f"./infra/hooks/{event}.ps1"
        assert hooks[event]["windows"]["shell"] == "pwsh"
        assert (HOOKS / f"{event}.sh").stat().st_mode & stat.S_IXUSR


def test_the_key_is_made_for_the_apps_cancel_function() -> None:
    """The function name and the key name, one place each: function_app.py names the function."""
    import function_app
    from devtools.queue_pump import indexed_functions

    assert "cancel_import_job_http" in indexed_functions(function_app.app)
    for script in ("postdeploy.sh", "postdeploy.ps1"):
        source = (HOOKS / script).read_text()
        assert re.search(r"""function_?[nN]ame\s*=\s*['"]?cancel_import_job_http""", source), script
        assert re.search(r"""key_?[nN]ame\s*=\s*['"]?logicapp""", source), script


def test_the_windows_hooks_make_the_same_calls_within_the_same_bounds() -> None:
    post = (HOOKS / "postdeploy.ps1").read_text()
    assert "az functionapp function keys set" in post
    for flag in ("--resource-group", "--name", "--function-name", "--key-name", "--key-value", "--output none"):
        assert flag in post
    assert "KEY_ATTEMPTS) { [int]$env:KEY_ATTEMPTS } else { 10 }" in post
    assert "KEY_RETRY_SECONDS) { [int]$env:KEY_RETRY_SECONDS } else { 15 }" in post
    assert ".Replace($env:LOGIC_APP_FUNCTION_KEY, '***')" in post  # az's output, masked
    pre = (HOOKS / "preprovision.ps1").read_text()
    assert "azd env set LOGIC_APP_FUNCTION_KEY $key" in pre
    assert "RandomNumberGenerator" in pre and "New-Object byte[] 48" in pre
    for source in (post, pre):
        assert "ToLowerInvariant() -ne 'true') { exit 0 }" in source
        assert "Write-Host $key" not in source and "Write-Output $key" not in source


def test_no_key_is_created_while_provisioning() -> None:
    """Flex Consumption cannot create keys before code runs (azure-functions-host#11379)."""
    for bicep in (REPO_ROOT / "infra").rglob("*.bicep"):
        assert "functionKeys" not in bicep.read_text(), bicep
        assert "host/default" not in bicep.read_text(), bicep


def test_the_parameters_file_hands_the_hooks_key_to_provisioning() -> None:
    parameters = (REPO_ROOT / "infra" / "main.parameters.json").read_text()
    assert '"logicAppFunctionKey": { "value": "${LOGIC_APP_FUNCTION_KEY}" }' in parameters
