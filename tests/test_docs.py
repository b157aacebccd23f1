"""The documentation holds together: every relative link resolves, the README stays one
page, and the settings, error codes and assumptions it names are the code's."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cancel_job import assumptions
from cancel_job.contract import ErrorCode, Setting
from devtools.azurite import REPO_ROOT

PAGES = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    in_code = False
    found = set()
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and line.startswith("#"):
            found.add(slug(line.lstrip("#")))
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_resolves(page: Path) -> None:
    broken = []
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+://|mailto:", target):
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists():
            broken.append(target)
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(target)
    assert broken == []


def test_the_link_check_can_fail(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# Title\n[ok](page.md#title) [gone](missing.md) [no anchor](page.md#nope)\n")
    links = LINK.findall(page.read_text())
    assert links == ["page.md#title", "missing.md", "page.md#nope"]
    assert "nope" not in anchors(page) and "title" in anchors(page)


def test_the_readme_is_one_page() -> None:
    assert len((REPO_ROOT / "README.md").read_text(encoding="utf-8").splitlines()) < 150


def test_the_docs_name_every_setting_and_error_code() -> None:
    text = "\n".join(page.read_text(encoding="utf-8") for page in PAGES)
    assert [s.value for s in Setting if f"`{s.value}`" not in text] == []
    assert [c.value for c in ErrorCode if f"`{c.value}`" not in text] == []
    assert assumptions.JOB_NOT_FOUND_CODE in text and assumptions.CORRELATION_HEADER in text


def test_what_azurite_and_builds_leave_behind_is_ignored() -> None:
    ignored = (REPO_ROOT / ".gitignore").read_text().split()
    assert {"AzuriteConfig", "__azurite_db_queue*.json", "build/", "*.egg-info/"} <= set(ignored)


def test_the_pump_keeps_azure_core_logging_quiet() -> None:
    import logging

    from devtools.queue_pump import quiet_azure_logging

    logging.getLogger("azure").setLevel(logging.NOTSET)
    quiet_azure_logging()
    assert logging.getLogger("azure.core.pipeline.policies.http_logging_policy").getEffectiveLevel() == logging.WARNING


def test_the_soak_table_is_aligned() -> None:
    from devtools.soak import SoakReport

    lines = SoakReport(sent=1000, results=797, lost=[]).table().splitlines()
    assert len({len(line) for line in lines}) == 1  # every row as wide as the header


DEPLOY = REPO_ROOT / "docs" / "deploy.md"
README = REPO_ROOT / "README.md"


def test_every_repository_variable_the_deploy_workflow_reads_is_named_in_the_deploy_docs() -> None:
    workflow = (REPO_ROOT / ".github" / "workflows" / "azure-dev.yml").read_text(encoding="utf-8")
    section = DEPLOY.read_text(encoding="utf-8").split("## From GitHub Actions", 1)[1].split("\n## ", 1)[0]
    read = set(re.findall(r"vars\.([A-Z_]+)", workflow))
    assert "AZURE_RESOURCE_GROUP" in read
    # "and the optional settings above": the table of azd settings names these.
    optional = {"ADT_IN_APP_RESOURCE_GROUP", "ADT_ROLE", "ALERT_EMAIL", "DEPLOY_LOGIC_APP"}
    assert sorted(name for name in read - optional if f"`{name}`" not in section) == []


def test_the_readme_deploy_snippet_names_the_apps_resource_group() -> None:
    snippet = README.read_text(encoding="utf-8").split("## Deploy", 1)[1].split("```", 2)[1]
    assert "azd env set AZURE_RESOURCE_GROUP" in snippet
    assert snippet.index("AZURE_RESOURCE_GROUP") < snippet.index("azd up")


def test_the_zip_instruction_puts_the_app_in_and_leaves_funcignore_out() -> None:
    text = DEPLOY.read_text(encoding="utf-8")
    [command] = re.findall(r"`(zip -r app\.zip [^`]+)`", text)
    kept = set(command.split()[3:])
    assert {"function_app.py", "host.json", "requirements.txt", "cancel_job"} <= kept
    ignored = {
        line.strip().rstrip("/")
        for line in (REPO_ROOT / ".funcignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert kept.isdisjoint(ignored)


def test_the_deploy_docs_say_how_to_read_the_outputs_and_name_only_real_ones() -> None:
    text = DEPLOY.read_text(encoding="utf-8")
    assert "azd env get-values" in text
    outputs = set(re.findall(r"^output (\w+) ", (REPO_ROOT / "infra" / "main.bicep").read_text(), re.MULTILINE))
    section = text.split("**Reading what was deployed.**", 1)[1].split("\n\n", 1)[0]
    named = set(re.findall(r"`([A-Z][A-Z_]+)`", section))
    assert named and named <= outputs


def test_the_new_instance_is_explained_with_its_cost_and_region() -> None:
    text = DEPLOY.read_text(encoding="utf-8")
    assert "no free\nor trial tier" in text or "no free or trial tier" in text
    assert "list-flexconsumption-locations" in text and "Microsoft.DigitalTwins" in text
    assert "trial" not in README.read_text(encoding="utf-8").split("## Deploy", 1)[1].split("```", 2)[1]


DESIGN_TEST = re.compile(r"`(tests/test_\w+\.py)::(\w+)(?:::(\w+))?`")


def test_every_test_the_design_page_cites_exists() -> None:
    """docs/design.md names the test that holds each decision: a renamed or deleted test
    must not leave the page pointing at nothing."""
    import ast

    cited = DESIGN_TEST.findall((REPO_ROOT / "docs" / "design.md").read_text(encoding="utf-8"))
    assert len(cited) >= 10
    for path, name, member in cited:
        tree = ast.parse((REPO_ROOT / path).read_text(encoding="utf-8"))
        top = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef | ast.ClassDef)}
        assert name in top, f"{path}::{name} is cited in docs/design.md but does not exist"
        if member:
            members = {node.name for node in ast.walk(top[name]) if isinstance(node, ast.FunctionDef)}
            assert member in members, f"{path}::{name}::{member} is cited in docs/design.md but does not exist"


def test_the_design_page_is_linked_from_the_readme() -> None:
    assert "(docs/design.md)" in (REPO_ROOT / "README.md").read_text(encoding="utf-8")
