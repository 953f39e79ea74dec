"""The built wheel holds every package under gan_studio/ and the presets (a missing package was once
a wheel without its CLI). Builds from a copy of the source, so a stale build/ folder cannot hide one."""
from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _can_build_here() -> bool:
    try:
        import setuptools
    except ImportError:
        return False
    return int(setuptools.__version__.split(".")[0]) >= 64


def test_the_wheel_holds_every_package_and_the_presets(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("gan_studio", "resources"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"), str(src)]
    if _can_build_here():   # offline and quick; else pip fetches setuptools for an isolated build
        cmd.insert(4, "--no-build-isolation")
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    wheel, = (tmp_path / "dist").glob("gan_studio-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())

    packages = sorted(p.parent for p in (ROOT / "gan_studio").rglob("__init__.py") if "__pycache__" not in p.parts)
    assert (ROOT / "gan_studio" / "cli") in packages
    for pkg in packages:
        rel = pkg.relative_to(ROOT).as_posix()
        missing = [f"{rel}/{f.name}" for f in pkg.glob("*.py") if f"{rel}/{f.name}" not in names]
        assert not missing, f"package {rel} is not (all) in the wheel: {missing}"

    presets = sorted((ROOT / "resources" / "presets").glob("*.toml"))
    assert presets
    missing = [p.name for p in presets if f"gan_studio/resources/presets/{p.name}" not in names]
    assert not missing, f"presets not in the wheel: {missing}"

    dist_info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
    with zipfile.ZipFile(wheel) as z:
        assert "gan-studio = gan_studio.cli:main" in z.read(f"{dist_info}/entry_points.txt").decode()
        assert "Requires-Python: >=3.11" in z.read(f"{dist_info}/METADATA").decode()
