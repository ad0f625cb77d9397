"""The benchmarks run from any venv: they start the ``gatepost`` beside ``sys.executable``.

A second venv is made in a temporary directory (it sees this venv's packages
through a ``.pth`` line) with its own ``gatepost`` script that notes it ran;
the lane-latency benchmark, started with that venv's python from elsewhere,
must run that script and print its JSON line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def other_venv(tmp_path: Path) -> Path:
    venv = tmp_path / "other-venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120
    )
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.strip()
    ours = sysconfig.get_paths()["purelib"]
    Path(purelib, "gatepost-under-test.pth").write_text(f"import site; site.addsitedir({ours!r})\n")
    script = venv / "bin" / "gatepost"
    script.write_text(
        f"#!{python}\n"
        "import os, pathlib, sys\n"
        "pathlib.Path(os.environ['GATEPOST_TEST_MARK']).write_text(sys.executable)\n"
        "from edge.cli import main\n"
        "sys.exit(main())\n"
    )
    script.chmod(0o755)
    return python


def test_lane_latency_starts_the_gatepost_of_its_own_venv(tmp_path: Path) -> None:
    python = other_venv(tmp_path)
    mark = tmp_path / "gatepost-ran"
    run = subprocess.run(
        [str(python), str(ROOT / "tests" / "bench" / "lane_latency.py"), "--transits", "2"],
        check=False,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
        env=dict(os.environ, GATEPOST_TEST_MARK=str(mark)),
    )
    assert run.returncode == 0, run.stderr[-3000:]
    line = json.loads(run.stdout.strip().splitlines()[-1])
    assert line["bench"] == "lane_latency" and line["transits"] == 2
    assert mark.read_text() == str(python)
