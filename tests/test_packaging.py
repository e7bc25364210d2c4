"""The project's set-up files agree with each other."""
import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def constraint_pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.lower().replace("_", "-")] = version
    return pins


def requirement_name(spec: str) -> str:
    return re.split(r"[<>=!~\[; ]", spec, maxsplit=1)[0].lower().replace("_", "-")


def test_every_constraint_is_an_exact_pin():
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            assert re.fullmatch(r"[A-Za-z0-9_.\-]+==[A-Za-z0-9_.+\-]+", line), line


def test_torch_is_pinned_to_the_cpu_build_version():
    assert constraint_pins()["torch"] == "2.13.0"


def test_every_declared_dependency_is_pinned():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = project["dependencies"] + [d for group in project["optional-dependencies"].values() for d in group]
    pins = constraint_pins()
    missing = [d for d in declared if requirement_name(d) not in pins]
    assert not missing, f"add these to constraints.txt: {missing}"


def test_environment_yml_matches_constraints():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    pins = constraint_pins()
    env_pins = {}
    for spec in pip_section:
        if "==" in spec:
            name, version = spec.split("==")
            env_pins[name.lower().replace("_", "-")] = version
    assert env_pins, "environment.yml pins nothing"
    for name, version in env_pins.items():
        assert pins.get(name) == version, f"environment.yml pins {name}=={version}, constraints.txt has {pins.get(name)}"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for spec in project["dependencies"]:
        assert requirement_name(spec) in env_pins, f"environment.yml does not pin {spec}"
    assert "-e .[dev]" in pip_section


def test_nbgrader_config_points_at_the_generated_folders():
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    assert config.CourseDirectory.source_directory == "source_notebooks"
    assert config.CourseDirectory.release_directory == "release"
    assert Path(config.CourseDirectory.root) == ROOT


def test_ci_runs_the_readme_test_command():
    readme_head = (ROOT / "README.md").read_text().split("\n## ")[0]
    assert "./run.sh demo" in readme_head and "./run.sh test" in readme_head
    commands = [line.strip() for line in (ROOT / ".ci/run").read_text().splitlines()
                if line.strip() and not line.lstrip().startswith("#")]
    assert [c for c in commands if "run.sh" in c] == ["./run.sh test || status=$?"]


def test_the_test_command_installs_what_ci_installs():
    """CI gets nothing the README's test command does not: .ci/run installs no package itself."""
    ci = (ROOT / ".ci/run").read_text()
    assert "apt-get" not in ci and "bwrap:bubblewrap" in (ROOT / "run.sh").read_text()
