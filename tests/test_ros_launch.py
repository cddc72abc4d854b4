"""Static checks of the ROS 2 packages: launch files (parsed with ``ast``: ``launch`` is not installable here), the
executables, parameter files and config keys they name, package manifests."""
from __future__ import annotations

import ast
import configparser
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

WS = Path(__file__).resolve().parents[1] / "ros2_ws"
PKG = WS / "src" / "hoi_ros"
sys.path.insert(0, str(PKG))

LAUNCH_FILES = sorted((PKG / "launch").glob("*.launch.py"))


def _entry_points() -> dict[str, str]:
    tree = ast.parse((PKG / "setup.py").read_text())
    scripts: dict[str, str] = {}
    for node in ast.walk(tree):
        text = node.value if isinstance(node, ast.Constant) else None
        if isinstance(text, str) and re.fullmatch(r"\w+ = [\w.]+:\w+", text):
            name, target = (s.strip() for s in node.value.split("="))
            scripts[name] = target
    return scripts


def _node_calls(path: Path) -> list[dict]:
    """Keyword arguments (as source text or literal) of every ``Node(...)`` in a launch file."""
    calls = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Node":
            calls.append({kw.arg: kw.value for kw in node.keywords})
    return calls


def _declared_params(module: str) -> set[str]:
    pytest.importorskip("rclpy")
    mod = __import__(f"hoi_ros.{module}", fromlist=["PARAMS"])
    return {p.name for p in mod.PARAMS}


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def test_there_are_a_robot_and_a_sim_launch_file():
    assert {p.name for p in LAUNCH_FILES} == {"robot.launch.py", "sim.launch.py"}


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_names_existing_executables_and_files(path):
    tree = ast.parse(path.read_text())
    assert any(isinstance(n, ast.FunctionDef) and n.name == "generate_launch_description" for n in tree.body)
    scripts = _entry_points()
    calls = _node_calls(path)
    assert calls, "no Node(...) in the launch file"
    for call in calls:
        assert ast.literal_eval(call["package"]) == "hoi_ros"
        exe = ast.literal_eval(call["executable"])
        assert exe in scripts, f"{exe} is not a console script of hoi_ros/setup.py ({sorted(scripts)})"
        module, func = scripts[exe].split(":")
        assert (PKG / (module.replace(".", "/") + ".py")).exists()
        assert f"def {func}(" in (PKG / (module.replace(".", "/") + ".py")).read_text()
    # every config file named in the launch file exists and is installed by setup.py
    named = set(re.findall(r'"config",\s*"([\w.]+\.yaml)"', path.read_text()))
    assert named, "the launch file names no parameter file"
    for name in named:
        assert (PKG / "config" / name).exists(), name
    assert 'glob("config/*.yaml")' in (PKG / "setup.py").read_text()
    assert 'glob("launch/*.launch.py")' in (PKG / "setup.py").read_text()


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_parameter_overrides_are_declared(path):
    modules = {"plan_node": "plan_node", "sim_bridge": "sim_bridge"}
    for call in _node_calls(path):
        exe = ast.literal_eval(call["executable"])
        declared = _declared_params(modules[exe])
        params = call.get("parameters")
        assert isinstance(params, ast.List)
        for item in params.elts:
            if isinstance(item, ast.Dict):
                for key in item.keys:
                    assert ast.literal_eval(key) in declared, f"{exe}: {ast.literal_eval(key)} is not declared"
        node_name = ast.literal_eval(call["name"])
        assert node_name in ("hoi_plan_node", "hoi_sim_bridge")


@pytest.mark.parametrize("name, module, node", [
    ("plan_node.yaml", "plan_node", "hoi_plan_node"),
    ("plan_node_sim.yaml", "plan_node", "hoi_plan_node"),
    ("sim_bridge.yaml", "sim_bridge", "hoi_sim_bridge"),
])  # fmt: skip
def test_config_files_only_set_declared_parameters(name, module, node):
    data = yaml.safe_load((PKG / "config" / name).read_text())
    assert list(data) == [node]
    keys = set(_flatten(data[node]["ros__parameters"]))
    unknown = keys - _declared_params(module)
    assert not unknown, f"{name} sets undeclared parameters {sorted(unknown)}"


def test_package_manifests():
    for pkg, build_type in (("hoi_ros", "ament_python"), ("hoi_interfaces", "ament_cmake")):
        root = ET.parse(WS / "src" / pkg / "package.xml").getroot()
        assert root.get("format") == "3" and root.findtext("name") == pkg
        assert root.find("export").findtext("build_type") == build_type
    deps = {e.text for e in ET.parse(PKG / "package.xml").getroot() if e.tag.endswith("depend")}
    assert {"hoi_interfaces", "rclpy", "launch_ros"} <= deps
    cfg = configparser.ConfigParser()
    cfg.read(PKG / "setup.cfg")
    assert cfg["install"]["install_scripts"] == "$base/lib/hoi_ros"  # where `ros2 run/launch` look for executables
    assert (PKG / "resource" / "hoi_ros").exists()
    action = (WS / "src" / "hoi_interfaces" / "action" / "GeneratePlan.action").read_text()
    assert action.count("\n---\n") == 2
    assert "GeneratePlan.action" in (WS / "src" / "hoi_interfaces" / "CMakeLists.txt").read_text()
