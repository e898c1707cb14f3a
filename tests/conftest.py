"""Shared test configuration.

The shipped sample study (``sample_data/study``) is an input of several tests
and of the documentation; a session-wide check makes sure that no test (and no
command a test runs) writes into it. Tests write only to their own temporary
folders.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from badinput import tree_state as _tree_state

# Plugin autoloading is off (``--disable-plugin-autoload`` in pyproject.toml): pytest rewrites
# the asserts of every module of each installed distribution that declares a pytest plugin,
# which made each test process rewrite about 300 napari, npe2 and hypothesis modules (about
# 9 s) on a fresh machine. xdist and pytest-xvfb are named with ``-p`` there; the plugins
# below by module name here, so only these modules are rewritten. (Each is skipped when its
# package is missing; the napari tests then report why they are skipped.)
pytest_plugins = [
    module
    for module, package in (
        ("pytestqt.plugin", "pytestqt"),
        ("napari.utils._testsupport", "napari"),
        ("_hypothesis_pytestplugin", "hypothesis"),
    )
    if importlib.util.find_spec(package) is not None
]

SAMPLE_STUDY = Path(__file__).resolve().parents[1] / "sample_data" / "study"


@pytest.fixture(scope="session", autouse=True)
def sample_study_unchanged():
    """Fail the session if the test suite changed, added or removed a file of sample_data/study."""
    before = _tree_state(SAMPLE_STUDY) if SAMPLE_STUDY.is_dir() else None
    yield
    if before is None:
        assert not SAMPLE_STUDY.exists() or not any(SAMPLE_STUDY.rglob("*")), (
            "the test suite created files in sample_data/study"
        )
        return
    after = _tree_state(SAMPLE_STUDY)
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert not changed, f"the test suite changed sample_data/study: {changed[:10]}"
