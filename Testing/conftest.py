"""Shared fixtures: the headless MRML host (Slicer's real scene from slicer-core, no mocks)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def host():
    """The process-wide headless host: a real vtkMRMLScene with Slicer's module logics."""
    from iahepaticprrt.mrml.host import start_headless_host

    return start_headless_host()


@pytest.fixture
def scene(host):
    """The host's scene, emptied of data nodes after each test."""
    yield host.scene
    host.scene.Clear(False)


@pytest.fixture
def module_logic(host, scene):
    from iahepaticprrt.mrml.module_logic import ModuleLogic

    return ModuleLogic(host)


@pytest.fixture(scope="session")
def demo_output(tmp_path_factory):
    """The demo exactly as the README's first command runs it (default size), once per session: its
    output folder (``results/report.html``, ``results/results.json``, ``patient/truth.json``)."""
    from iahepaticprrt.cli import main

    folder = tmp_path_factory.mktemp("demo") / "demo-out"
    assert main(["demo", "-o", str(folder), "--quiet"]) == 0
    return folder
