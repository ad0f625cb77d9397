"""The install extras in pyproject.toml match what the code imports (the dev venv's half of `make smoke`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.install import imports
from tests.install.smoke_common import lane_config
from tests.support.services import free_port

HERE = Path(__file__).parent


def test_every_extra_declares_what_its_modules_import_and_nothing_else():
    assert imports.static_problems() == []


def test_the_static_check_catches_an_undeclared_import(tmp_path):
    """argon2-cffi taken out of [edge] (as it was): the booth console's argon2 import is reported."""
    text = (imports.ROOT / "pyproject.toml").read_text(encoding="utf-8")
    edge_block = text[text.index("edge = [") : text.index("]", text.index("edge = ["))]
    broken = text.replace(edge_block, edge_block.replace('    "argon2-cffi>=23.1",', ""))
    assert broken != text
    (tmp_path / "pyproject.toml").write_text(broken, encoding="utf-8")
    problems = imports.static_problems(["edge", "central"], pyproject=tmp_path / "pyproject.toml")
    assert any(
        p.startswith("[edge] edge.console.guards:") and "'argon2'" in p and "argon2-cffi" in p
        for p in problems
    ), problems
    assert not any(p.startswith("[central]") for p in problems), problems


def test_the_static_check_reports_a_declared_package_nobody_imports(tmp_path):
    text = (imports.ROOT / "pyproject.toml").read_text(encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text(
        text.replace('    "httpx>=0.27",\n', '    "httpx>=0.27",\n    "itsdangerous>=2.1",\n', 1),
        encoding="utf-8",
    )
    problems = imports.static_problems(["central"], pyproject=tmp_path / "pyproject.toml")
    assert problems == [
        (
            "[central] declares 'itsdangerous', which none of its modules imports "
            "(drop it, or say why in RUNTIME_ONLY)"
        )
    ]


def test_edge_modules_leave_out_the_demo_and_central_only_modules():
    edge, central = imports.modules_of("edge"), imports.modules_of("central")
    assert "edge.console.guards" in edge and "edge.sim.demo" not in edge
    assert not any(m.startswith("central") for m in edge)
    assert "central.embedded_broker" not in central and "central.db.migrations.env" not in central
    assert "edge.sim.demo" in imports.modules_of("demo")


def test_import_walk_of_the_dev_extra_imports_every_module():
    result = subprocess.run(
        [sys.executable, str(HERE / "imports.py"), "walk", "dev"],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS" in result.stdout


def test_a_board_without_its_pin_factory_library_stops_the_agent_naming_the_package(tmp_path):
    """The shipped exit lane on a Pi profile (pin_factory = "lgpio") where lgpio cannot be imported.

    ``sys.modules["lgpio"] = None`` is how Python marks a module as absent; the
    clean ``[edge]`` venv of ``make smoke`` checks the same with lgpio really missing.
    """
    config = lane_config(tmp_path, role="exit", console_port=free_port(), simulate=False)
    code = (
        "import sys; sys.modules['lgpio'] = None; from edge.cli import main; "
        f"sys.argv = ['gatepost', 'edge', '--config', {str(config)!r}, '--offline', "
        f"'--state-dir', {str(tmp_path / 'state')!r}]; main()"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    error = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert error and "lgpio" in error[0] and "pip install 'gatepost[pi]'" in error[0], (
        result.stderr[-1000:]
    )
    logged = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert any(
        "lgpio" in entry.get("msg", "") and entry.get("level") == "error" for entry in logged
    ), logged
