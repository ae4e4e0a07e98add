"""Shared fixtures: the embedded tiny model exported once per profile for the whole session.

`tiny_export("rtx4090")` runs the real `ltx-trt export --model tiny` (the CLI, through click's
runner) into a session folder and returns that artifacts folder; later stages' tests (build, run)
start from it. The tiny weights themselves are generated once into the same folder.
"""

from pathlib import Path

import pytest
from click.testing import CliRunner

from ltx_trt.cli import main


@pytest.fixture(scope="session")
def tiny_artifacts(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("artifacts")


@pytest.fixture(scope="session")
def tiny_export(tiny_artifacts):
    """A function: profile name -> artifacts folder holding <tiny>/<profile>/onnx (exported once)."""
    done: set[str] = set()

    def export(profile: str) -> Path:
        if profile not in done:
            result = CliRunner().invoke(main, ["export", "--gpu", profile, "--model", "tiny",
                                               "--artifacts", str(tiny_artifacts)])
            assert result.exit_code == 0, result.output + repr(result.exception)
            done.add(profile)
        return tiny_artifacts

    return export
