"""Reproducible installs: the lock files against pyproject.toml, and the pre-commit hooks."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent


def locked(name: str) -> dict[str, str]:
    """A lock file's pins, by canonical name; every pin carries hashes, or pip's --require-hashes refuses it."""
    text = (ROOT / name).read_text(encoding="utf-8")
    assert not re.search(r"^--", text, re.MULTILINE), "no index or find-links options: they name this machine"
    pins: dict[str, str] = {}
    for block in re.split(r"\n(?=\S)", text):
        match = re.match(r"([A-Za-z0-9._-]+)==(\S+)", block)
        if match is None:
            continue
        assert "--hash=sha256:" in block, f"{match.group(1)} has no hash in {name}"
        pins[canonicalize_name(match.group(1))] = match.group(2)
    return pins


def project() -> dict[str, Any]:
    table = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert isinstance(table, dict)
    return table


@pytest.mark.parametrize(
    ("lock", "groups"),
    [("requirements.lock", ("runtime",)), ("requirements-dev.lock", ("runtime", "dev"))],
)
def test_the_lock_pins_every_declared_requirement_within_its_range(lock: str, groups: tuple[str, ...]) -> None:
    declared = {"runtime": project()["dependencies"], "dev": project()["optional-dependencies"]["dev"]}
    pins = locked(lock)
    stale = []
    for group in groups:
        for line in declared[group]:
            requirement = Requirement(line)
            version = pins.get(canonicalize_name(requirement.name))
            if version is None or not requirement.specifier.contains(version, prereleases=True):
                stale.append(f"{line} (locked: {version})")
    assert stale == [], "pyproject.toml and the lock disagree: run `make lock`"


def test_runtime_and_dev_locks_pin_the_same_versions() -> None:
    runtime, dev = locked("requirements.lock"), locked("requirements-dev.lock")
    assert {name: dev.get(name) for name in runtime} == runtime


def test_the_pre_commit_config_is_valid_and_runs_ruff_and_mypy_from_the_venv() -> None:
    config_path = ROOT / ".pre-commit-config.yaml"
    pre_commit = Path(sys.executable).with_name("pre-commit")
    result = subprocess.run(
        [str(pre_commit), "validate-config", str(config_path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    hooks = {hook["id"]: hook for repo in config["repos"] for hook in repo["hooks"]}
    assert all(repo["repo"] == "local" for repo in config["repos"]), "local hooks: nothing to download"
    assert {"ruff-check", "ruff-format", "mypy"} <= hooks.keys()
    assert all(hook["entry"].startswith(".venv/bin/") for hook in hooks.values())
    assert hooks["mypy"]["pass_filenames"] is False, "mypy checks what pyproject.toml names, as `make lint` does"
