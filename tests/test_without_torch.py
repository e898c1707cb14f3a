"""mfscan without the ``learn`` extra: every module imports, and the commands that need torch say how to get it.

The subprocess tests block torch with an import hook that raises ImportError for it (as on
a machine without the extra), so they test the fresh-machine case even where torch is
installed. (``sys.modules["torch"] = None`` would not do: other libraries then find a
``torch`` entry in ``sys.modules`` and fail on it.)
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from mfscan.errors import MfscanError

#: Imports every module of mfscan with torch blocked; prints the modules that failed.
_BLOCK_TORCH = """
import sys
class _NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("No module named 'torch' (blocked by the test)")
sys.meta_path.insert(0, _NoTorch())
"""
_IMPORT_ALL_WITHOUT_TORCH = (
    _BLOCK_TORCH
    + """
import importlib, json, pkgutil
import mfscan
failed = {}
for m in pkgutil.walk_packages(mfscan.__path__, "mfscan."):
    if m.name.endswith("__main__"):
        continue
    try:
        importlib.import_module(m.name)
    except Exception as e:
        failed[m.name] = repr(e)
print(json.dumps(failed))
"""
)


def test_every_module_imports_without_torch():
    out = subprocess.run(
        [sys.executable, "-c", _IMPORT_ALL_WITHOUT_TORCH], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "{}"


def test_importing_mfscan_does_not_import_torch():
    code = (
        "import sys, mfscan.cli.main, mfscan.learn.dataset, mfscan.learn.predict, mfscan.learn.unet, "
        "mfscan.learn.train; print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_network_without_torch_gives_the_install_hint(monkeypatch):
    import mfscan.learn.unet as unet

    monkeypatch.setitem(sys.modules, "torch", None)
    unet._unet_class.cache_clear()
    try:
        with pytest.raises(MfscanError, match=r'pip install "mfscan\[learn\]"'):
            unet.UNet  # noqa: B018
        with pytest.raises(MfscanError, match=r'pip install "mfscan\[learn\]"'):
            from mfscan.learn.unet import UNet  # noqa: F401
    finally:
        unet._unet_class.cache_clear()
    assert unet.multiple_of((16, 32, 64, 128)) == 8  # needs no torch


def test_missing_torch_gives_the_install_hint(monkeypatch, tmp_path, capsys):
    from mfscan.cli import main
    from mfscan.learn._torch import require_torch

    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now raises ImportError
    with pytest.raises(MfscanError, match=r'pip install "mfscan\[learn\]"'):
        require_torch()
    assert main(["train", str(tmp_path), "-o", str(tmp_path / "m")]) == 1
    assert 'pip install "mfscan[learn]"' in capsys.readouterr().err
    assert main(["predict", str(tmp_path / "m"), str(tmp_path)]) == 1
    assert 'pip install "mfscan[learn]"' in capsys.readouterr().err


def test_mfscan_help_works_without_torch():
    code = _BLOCK_TORCH + "from mfscan.cli import main\nraise SystemExit(main(['--help']))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "train" in out.stdout and "predict" in out.stdout
