"""The CI workflows: the pack workflow runs on a tag or by hand and calls the one Makefile target, which
builds the pack of every profile whose backend builds on a CPU runner (TensorRT-RTX); the test workflow
runs .ci/run."""

import re
from pathlib import Path

import yaml

from ltx_trt.core.profiles import available_profiles, load_profile

ROOT = Path(__file__).resolve().parents[2]


def _workflow(name: str) -> dict:
    data = yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def _commands(workflow: dict) -> list[str]:
    return [step["run"] for job in workflow["jobs"].values() for step in job["steps"] if "run" in step]


def test_the_pack_workflow_runs_on_tags_and_by_hand_and_calls_make_packs():
    workflow = _workflow("packs.yml")
    assert workflow["on"]["push"]["tags"] and "workflow_dispatch" in workflow["on"]
    commands = _commands(workflow)
    assert len(commands) == 1 and re.match(r"make packs\b", commands[0])
    uploads = [s for j in workflow["jobs"].values() for s in j["steps"] if "upload-artifact" in s.get("uses", "")]
    assert uploads and uploads[0]["with"]["path"].startswith("packs")


def test_make_packs_builds_every_rtx_profile():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^packs: install$", makefile, re.M)
    listed = re.search(r"^RTX_PROFILES \?= (.*)$", makefile, re.M).group(1).split()
    rtx = [name for name in available_profiles() if load_profile(name).backend == "tensorrt_rtx"]
    assert sorted(listed) == sorted(rtx)


def test_the_test_workflow_runs_the_ci_script():
    assert ".ci/run" in _commands(_workflow("test.yml"))
