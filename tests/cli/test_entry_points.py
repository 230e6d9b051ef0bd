"""The console scripts of pyproject.toml name real commands, and ``python scripts/NAME.py`` is a
thin shim over the same ``main`` that leaves ``sys.path`` alone."""
import importlib
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _entry_points():
    """``[project.scripts]`` of pyproject.toml (read by hand: tomllib is Python 3.11+)."""
    text = (ROOT / "pyproject.toml").read_text()
    section = text.split("[project.scripts]\n", 1)[1].split("\n[", 1)[0]
    pairs = (line.split("=", 1) for line in section.splitlines()
             if "=" in line and not line.startswith("#"))
    return {k.strip(): v.strip().strip('"') for k, v in pairs}


def test_every_console_script_is_a_main_with_a_shim():
    eps = _entry_points()
    assert {"arrayneedle-train", "arrayneedle-sample", "arrayneedle-export"} <= set(eps)
    for name, target in eps.items():
        module, func = target.split(":")
        main = getattr(importlib.import_module(module), func)
        assert callable(main), name
        shim = ROOT / "scripts" / f"{module.rsplit('.', 1)[1]}.py"
        text = shim.read_text()
        assert f"from {module} import" in text and "sys.path" not in text, shim
    for script in (ROOT / "scripts").glob("*.py"):
        assert "sys.path.insert" not in script.read_text(), script


def test_shim_and_module_run_the_same_command(tmp_path):
    """``python scripts/export.py`` and ``python -m diffusion.cli.export`` (what the console
    script runs) give the same usage error."""
    out = []
    for cmd in ([str(ROOT / "scripts" / "export.py")], ["-m", "diffusion.cli.export"]):
        r = subprocess.run([sys.executable, *cmd, str(tmp_path / "no.npz"),
                            str(tmp_path / "x.txt")], capture_output=True, text=True,
                           timeout=120, cwd=tmp_path)
        assert r.returncode == 2, r.stderr
        out.append(r.stderr.splitlines()[-1])
    assert out[0] == out[1] and "must end in .safetensors" in out[0]
