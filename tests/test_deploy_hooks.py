"""The preprovision hook (infra/hooks/preprovision.sh) that makes sure Microsoft.App is
registered when VNET_ENABLED is true (issue 30), run with stand-ins for azd and curl on
PATH that record their calls and answer as ARM would. The PowerShell twin is checked for
the same steps (pwsh is not available here)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from devtools.azurite import REPO_ROOT

HOOK = REPO_ROOT / "infra" / "hooks" / "preprovision.sh"
TOKEN = "eyJ0eXAiOiJKV1QifQ.secret-arm-token.sig"


def _stand_ins(tmp_path: Path, states: list[str], register_status: str = "200") -> Path:
    """azd prints a token; curl answers the provider's registrationState (the next of
    ``states`` at each GET, the last one repeating) and ``register_status`` to the POST."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (tmp_path / "states").write_text("\n".join(states) + "\n")
    (bin_dir / "azd").write_text(f'#!/bin/sh\necho "azd $*" >> "{tmp_path}/calls"\necho \'{{"token": "{TOKEN}"}}\'\n')
    (bin_dir / "curl").write_text(
        f"""#!/bin/sh
echo "curl $*" >> "{tmp_path}/calls"
case "$*" in
  *"-X POST"*) echo "{register_status}"; exit 0 ;;
esac
state=$(head -n 1 "{tmp_path}/states")
if [ "$(wc -l < "{tmp_path}/states")" -gt 1 ]; then sed -i 1d "{tmp_path}/states"; fi
echo '{{"namespace": "Microsoft.App", "registrationState": "'"$state"'"}}'
"""
    )
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    return bin_dir


def _run(tmp_path: Path, bin_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    settings = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "AZURE_SUBSCRIPTION_ID": "00000000-0000-4000-8000-000000000042",
        "PROVIDER_RETRY_SECONDS": "0",
        "PROVIDER_ATTEMPTS": "3",
        **env,
    }
    return subprocess.run(["sh", str(HOOK)], env=settings, capture_output=True, text=True, timeout=60, check=False)


def _calls(tmp_path: Path) -> list[str]:
    calls = tmp_path / "calls"
    return calls.read_text().splitlines() if calls.exists() else []


def test_without_private_networking_the_hook_does_nothing(tmp_path: Path) -> None:
    done = _run(tmp_path, _stand_ins(tmp_path, ["NotRegistered"]), VNET_ENABLED="false")
    assert done.returncode == 0 and _calls(tmp_path) == []


def test_a_registered_provider_is_left_as_it_is(tmp_path: Path) -> None:
    done = _run(tmp_path, _stand_ins(tmp_path, ["Registered"]), VNET_ENABLED="true")
    assert done.returncode == 0
    assert not [call for call in _calls(tmp_path) if "-X POST" in call]


def test_a_missing_provider_is_registered_and_waited_for(tmp_path: Path) -> None:
    done = _run(tmp_path, _stand_ins(tmp_path, ["NotRegistered", "Registering", "Registered"]), VNET_ENABLED="true")
    assert done.returncode == 0, done.stderr
    posts = [call for call in _calls(tmp_path) if "-X POST" in call]
    assert (
        len(posts) == 1
        and "/subscriptions/00000000-0000-4000-8000-000000000042/providers/Microsoft.App/register" in posts[0]
    )
    assert "Microsoft.App is registered" in done.stdout
    assert TOKEN not in done.stdout + done.stderr  # never printed


@pytest.mark.parametrize(("states", "status"), [(["NotRegistered"], "403"), (["NotRegistered", "Registering"], "200")])
def test_a_refused_or_endless_registration_stops_before_deploying_and_says_what_to_do(
    tmp_path: Path, states: list[str], status: str
) -> None:
    done = _run(tmp_path, _stand_ins(tmp_path, states, register_status=status), VNET_ENABLED="true")
    assert done.returncode == 1
    assert "az provider" in done.stderr and "azd provision again" in done.stderr
    assert TOKEN not in done.stdout + done.stderr


def test_the_powershell_twin_takes_the_same_steps() -> None:
    twin = (REPO_ROOT / "infra" / "hooks" / "preprovision.ps1").read_text()
    for step in ("VNET_ENABLED", "azd auth token", "registrationState", "/register?", "az provider register"):
        assert step in twin
    azure_yaml = (REPO_ROOT / "azure.yaml").read_text()
    assert "run: ./infra/hooks/preprovision.sh" in azure_yaml and "run: ./infra/hooks/preprovision.ps1" in azure_yaml
