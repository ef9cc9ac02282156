"""The files that install the course agree with each other, and CI runs what the README says.

requirements.txt is the list a learner installs; environment.yml (Binder) must repeat its
third-party requirements exactly, and pyproject.toml's dependencies plus extras must name the
same packages with the same ranges. minillm itself is installed by `-e .` in requirements.txt
and by postBuild on Binder (repo2docker installs environment.yml before the repository exists).
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

# packaging is a dependency of pytest itself, so it is always here when the tests run.
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "requirements.txt"
ENVIRONMENT = ROOT / "environment.yml"
PYPROJECT = ROOT / "pyproject.toml"
POSTBUILD = ROOT / "postBuild"
README = ROOT / "README.md"
CI_RUN = ROOT / ".ci" / "run"

# The torch wheel on the course's CI machines, and the newest torch the course may ask for.
LOCAL_TORCH = Version("2.13.0")
NEWEST_TORCH_ALLOWED = Version("2.14.1")

LOCAL_PACKAGE_LINES = {"-e .", "."}


def parse_requirement_lines(lines, source):
    """Split pip requirement lines into (third-party requirements by name, local-package lines).

    Blank lines, comments and pip options such as `--extra-index-url URL` are not requirements.
    """
    third_party, local = {}, []
    for raw in lines:
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#") or line.startswith("--"):
            continue
        if line in LOCAL_PACKAGE_LINES or line.startswith(("-e .[", ".[")):
            local.append(line)
            continue
        if line.startswith("-"):
            raise ValueError(f"{source}: pip option {line!r} is not understood by this test")
        req = Requirement(line)
        name = canonicalize_name(req.name)
        if name in third_party:
            raise ValueError(f"{source}: {req.name} is listed twice")
        third_party[name] = req
    return third_party, local


def as_comparable(requirements):
    """name -> (extras, specifier set, marker): what must agree between the files."""
    return {
        name: (frozenset(req.extras), req.specifier, str(req.marker or ""))
        for name, req in requirements.items()
    }


def requirements_txt():
    lines = REQUIREMENTS.read_text(encoding="utf-8").splitlines()
    return parse_requirement_lines(lines, "requirements.txt")


def environment_yml():
    return yaml.safe_load(ENVIRONMENT.read_text(encoding="utf-8"))


def environment_pip_section():
    pip_sections = [
        dep["pip"] for dep in environment_yml()["dependencies"] if isinstance(dep, dict)
    ]
    assert len(pip_sections) == 1, "environment.yml needs exactly one `pip:` section"
    return parse_requirement_lines(pip_sections[0], "environment.yml")


def pyproject_requirements():
    """pyproject.toml's runtime dependencies plus every optional extra, one dict."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    lines = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        lines.extend(extra)
    return parse_requirement_lines(lines, "pyproject.toml")[0]


def every_requirement():
    """(source, requirement) for every third-party requirement in every install file."""
    sources = {
        "requirements.txt": requirements_txt()[0],
        "environment.yml": environment_pip_section()[0],
        "pyproject.toml": pyproject_requirements(),
    }
    return [(source, req) for source, reqs in sources.items() for req in reqs.values()]


def torch_requirements():
    found = [
        (source, req)
        for source, req in every_requirement()
        if canonicalize_name(req.name) == "torch"
    ]
    assert {source for source, _ in found} == {
        "requirements.txt",
        "environment.yml",
        "pyproject.toml",
    }, "torch must be required by every install file"
    return found


def readme_quickstart_commands():
    """The shell commands in the README's Quickstart code block."""
    text = README.read_text(encoding="utf-8")
    match = re.search(r"^## Quickstart\s*$(.*?)^## ", text, flags=re.MULTILINE | re.DOTALL)
    assert match, "README.md needs a '## Quickstart' section"
    blocks = re.findall(
        r"^```(?:bash|sh|shell)?\s*$(.*?)^```", match.group(1), flags=re.MULTILINE | re.DOTALL
    )
    return [
        line.strip()
        for block in blocks
        for line in block.splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]


def readme_test_command():
    commands = [c for c in readme_quickstart_commands() if "pytest" in c]
    assert len(commands) == 1, f"README Quickstart must have one test command, found {commands}"
    return commands[0]


# --- the three install files agree ----------------------------------------------------------


def test_environment_yml_lists_the_same_third_party_requirements_as_requirements_txt():
    in_requirements = as_comparable(requirements_txt()[0])
    in_environment = as_comparable(environment_pip_section()[0])
    assert in_environment == in_requirements


def test_requirements_txt_matches_pyproject_dependencies_and_extras():
    assert as_comparable(requirements_txt()[0]) == as_comparable(pyproject_requirements())


def test_requirements_txt_installs_minillm_itself_in_editable_mode():
    assert requirements_txt()[1] == ["-e ."]


def test_environment_yml_leaves_minillm_itself_to_postbuild():
    # repo2docker installs environment.yml before it copies the repository: `-e .` would fail.
    assert environment_pip_section()[1] == []


def test_postbuild_is_an_executable_bash_script_that_installs_minillm():
    text = POSTBUILD.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines[0] == "#!/bin/bash"
    assert "set -e" in lines
    assert "pip install --no-deps -e ." in lines
    assert os.access(POSTBUILD, os.X_OK), "postBuild must be executable (chmod +x postBuild)"


def test_environment_yml_is_a_binder_environment_on_python_311_with_pip():
    env = environment_yml()
    assert env["name"] == "minillm"
    assert env["channels"] == ["conda-forge"]
    conda_packages = [dep for dep in env["dependencies"] if isinstance(dep, str)]
    assert "python=3.11" in conda_packages
    assert "pip" in conda_packages


# --- ranges, not pins; torch within what the course supports ---------------------------------


def is_exact_pin(specifier):
    return specifier.operator == "===" or (
        specifier.operator == "==" and not specifier.version.endswith(".*")
    )


def test_no_requirement_is_pinned_to_an_exact_version():
    pinned = [
        f"{source}: {req}"
        for source, req in every_requirement()
        if any(is_exact_pin(spec) for spec in req.specifier)
    ]
    assert pinned == []


def test_torch_range_admits_the_local_cpu_wheel():
    for source, req in torch_requirements():
        assert req.specifier.contains(LOCAL_TORCH), f"{source}: {req} rejects torch {LOCAL_TORCH}"


def test_torch_range_never_asks_for_a_release_above_2_14_1():
    for source, req in torch_requirements():
        for spec in req.specifier:
            if spec.operator in (">=", "==", "~=", "==="):
                assert Version(spec.version.rstrip(".*")) <= NEWEST_TORCH_ALLOWED, (source, req)
            if spec.operator == ">":
                assert Version(spec.version) < NEWEST_TORCH_ALLOWED, (source, req)
        # Capped, so that pip never reaches for a release the course was not tested on.
        assert not req.specifier.contains(Version("2.15.0")), f"{source}: {req} is not capped"


def test_ci_installs_a_torch_that_the_requirements_accept():
    pins = re.findall(r"pip install torch==(\S+)", CI_RUN.read_text(encoding="utf-8"))
    assert pins, ".ci/run must install the local torch wheel explicitly"
    for pin in pins:
        assert Version(pin) == LOCAL_TORCH
        for source, req in torch_requirements():
            assert req.specifier.contains(Version(pin)), (source, req)


# --- CI runs exactly what the README tells a learner to run ----------------------------------


def test_readme_quickstart_has_exactly_the_two_commands():
    assert readme_quickstart_commands() == [
        "pip install -r requirements.txt && jupyter lab chapters/",
        "pip install -r requirements.txt && python -m pytest",
    ]


def test_ci_runs_the_readme_test_command_literally():
    ci_lines = [line.strip() for line in CI_RUN.read_text(encoding="utf-8").splitlines()]
    assert readme_test_command() in ci_lines


def test_ci_script_is_strict_executable_bash():
    text = CI_RUN.read_text(encoding="utf-8")
    assert text.startswith("#!/usr/bin/env bash\n") or text.startswith("#!/bin/bash\n")
    assert "set -euo pipefail" in text.splitlines()
    assert os.access(CI_RUN, os.X_OK), ".ci/run must be executable (chmod +x .ci/run)"
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not installed here")
    result = subprocess.run([bash, "-n", str(CI_RUN)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_ci_checks_the_chapters_again_with_pytorchs_portable_kernels():
    # stored outputs made with one CPU's vector kernels must hold with the scalar ones too
    ci_lines = [line.strip() for line in CI_RUN.read_text(encoding="utf-8").splitlines()]
    assert "ATEN_CPU_CAPABILITY=default python -m pytest chapters" in ci_lines
