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
