"""The CLI under a real Ctrl-C (SIGINT to its process) and through long waits: one line that
says what is known, exit 130, never a traceback; a wait longer than a second is said."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import pytest

from devtools.adt_emulator import AdtEmulator, Fault
from devtools.azurite import REPO_ROOT
from tests.helpers import wait_for


class CliProcess:
    """``python -m cancel_job …`` with its stderr read line by line as it comes."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cancel_job", *argv],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.err: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.err.append(line.rstrip("\n"))

    def saw(self, text: str) -> bool:
        return any(text in line for line in self.err)

    def interrupt(self) -> int:
        self.process.send_signal(signal.SIGINT)
        code = self.process.wait(timeout=30)
        self._reader.join(timeout=10)
        return code


@pytest.fixture
def cli_env(emulator: AdtEmulator) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("STORAGE_CONNECTION", "ADT_ALLOWED_ENDPOINTS", "AZURE_CLIENT_ID")
    }
    return {**env, **emulator.environment(), "PYTHONPATH": str(REPO_ROOT)}


def test_ctrl_c_during_cancel_wait_says_the_cancel_was_sent_and_how_to_keep_watching(
    emulator: AdtEmulator, cli_env: dict[str, str]
) -> None:
    emulator.configure(cancel_accept_delay=3600)  # the job stays running
    emulator.add_job("job1")
    cli = CliProcess(["cancel", "job1", "--wait", "--timeout", "600"], cli_env)
    wait_for(lambda: cli.saw("job1: running"), timeout=60)  # polling, in _wait_until_final's pause
    assert cli.interrupt() == 130
    assert not any("Traceback" in line for line in cli.err)
    assert cli.err[-1] == (
        "interrupted: the cancel of job1 was sent and accepted (the job was running); "
        "keep watching with: python -m cancel_job status job1"
    )


def test_a_long_wait_for_adt_is_said_and_ctrl_c_inside_it_ends_cleanly(
    emulator: AdtEmulator, cli_env: dict[str, str]
) -> None:
    emulator.add_job("job1")
    emulator.inject(Fault(op="get", status=429, headers={"Retry-After": "20"}))
    cli = CliProcess(["status", "job1"], {**cli_env, "CANCEL_DEADLINE_SECONDS": "60"})
    # Waiting at the pacing gate after ADT's 429: said at once, not 20 silent seconds.
    wait_for(lambda: cli.saw("waiting 20 s before calling ADT: its rate limit"), timeout=60)
    assert cli.interrupt() == 130
    assert not any("Traceback" in line for line in cli.err)
    assert cli.err[-1] == "interrupted: nothing was changed (a read)"


CHAIN_FAILURE = """DefaultAzureCredential failed to retrieve a token from the included credentials.
Attempted credentials:
\tEnvironmentCredential: EnvironmentCredential authentication unavailable. \
Environment variables are not fully configured.
Visit https://aka.ms/azsdk/python/identity/environmentcredential/troubleshoot to troubleshoot this issue.
\tAzureCliCredential: Azure CLI not found on path
\tAzureDeveloperCliCredential: Azure Developer CLI could not be found. Please visit https://aka.ms/azure-dev for help.
To mitigate this issue, please refer to the troubleshooting guidelines here at https://aka.ms/azsdk/python/identity/defaultazurecredential/troubleshoot."""


def test_a_chain_of_credentials_fails_in_one_line_per_credential() -> None:
    from cancel_job.adt import credential_failure

    assert credential_failure(CHAIN_FAILURE).splitlines() == [
        "DefaultAzureCredential failed to retrieve a token from the included credentials.",
        "  EnvironmentCredential: authentication unavailable. Environment variables are not fully configured",
        "  AzureCliCredential: Azure CLI not found on path",
        "  AzureDeveloperCliCredential: Azure Developer CLI could not be found",
    ]
    assert (
        credential_failure("ManagedIdentityCredential: no response from the endpoint")
        == "ManagedIdentityCredential: no response from the endpoint"
    )


def test_without_credentials_the_cli_says_how_to_sign_in_in_three_lines_and_verbose_shows_the_rest(
    emulator: AdtEmulator, cli_env: dict[str, str], tmp_path
) -> None:
    """Issue 30: what failed, what to do, and that --verbose says more; no wait announced
    for a failure no wait can fix, and the identity error's exit code."""
    # Every credential fails here, on this machine: the managed identity at the emulator
    # with a wrong header, the others for want of tools, settings or a cache.
    env = {key: value for key, value in cli_env.items() if not key.startswith("AZURE_")}
    env.update({"IDENTITY_HEADER": "wrong", "HOME": str(tmp_path)})
    quiet = subprocess.run(
        [sys.executable, "-m", "cancel_job", "status", "job1"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = quiet.stderr.splitlines()
    assert quiet.returncode == 1 and quiet.stdout == ""
    assert len(lines) <= 3 and lines[0].startswith("error: IdentityUnavailable")
    assert "az login" in lines[1] and "--verbose" in lines[2]
    assert "waiting" not in quiet.stderr
    loud = subprocess.run(
        [sys.executable, "-m", "cancel_job", "status", "job1", "--verbose"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert loud.returncode == 1 and "waiting" not in loud.stderr
    tried = [line for line in loud.stderr.splitlines() if line.startswith("  ") and "Credential:" in line]
    assert tried  # each credential's answer, one line each
    assert "azure.identity" in loud.stderr and len(loud.stderr.splitlines()) > len(lines)
