"""The Python API (ltx_trt.api) on the tiny model: the README's example exactly as printed, several clips over one
opened executor, and the CLI's one-line refusals for bad arguments.

The clips are checked by decoding them (tests/e2e/test_run_cli.py's checks). On the CPU the executor is ONNX Runtime
(auto) or torch; both keep nothing but the model files and their modules between clips (commands/session.py).
"""

import os
import re
from pathlib import Path

import numpy as np
import pytest

from ltx_trt.api import UserError, open_pipeline
from ltx_trt.commands.api import clip_request
from ltx_trt.commands.request import RunRequest
from ltx_trt.core.profiles import load_profile
from ltx_trt.core.source import tiny_source
from tests.e2e.test_run_cli import _check_clip, _decoded

PROFILE = "rtx4090"
README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture(scope="module")
def exported(tiny_export):
    return tiny_export(PROFILE)


def readme_example() -> str:
    """The first python block of the README's "Python API" section."""
    section = README.read_text().split("## Python API", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_example_runs_as_printed(exported, tmp_path, monkeypatch, capsys):
    (tmp_path / "artifacts").symlink_to(exported)
    monkeypatch.chdir(tmp_path)
    exec(compile(readme_example(), str(README), "exec"), {})
    out = capsys.readouterr().out
    assert out.count("executor: ") == 1 and out.count("open (") == 1  # opened once for both clips
    assert "load (onnxruntime, clip 2)" in out and out.count("done in ") == 2
    assert "wrote clip-0.mp4" in out and "wrote clip-1.mp4" in out
    # weight packing is announced and timed as a stage of its own, in every clip (#13 item 4)
    assert out.count("pack (text encoder weights) ...") == 2 and out.count("pack (transformer weights) ...") == 2
    assert all(re.search(r", pack \d+\.\d s, text ", line) for line in out.splitlines() if line.startswith("done in "))
    for name in ("clip-0.mp4", "clip-1.mp4"):
        _check_clip(tmp_path / name)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["artifacts", "clip-0.mp4", "clip-1.mp4"]


def test_a_clip_after_others_equals_the_first_with_the_same_prompt_and_seed(exported, tmp_path):
    """Nothing of a clip leaks into the next: the torch executor's kept modules, fresh chains and weights."""
    lines = []
    with open_pipeline(PROFILE, model="tiny", artifacts=exported, executor="torch", log=lines.append) as pipe:
        first = pipe.generate("a red fox", output=tmp_path / "a.mp4", seed=3)
        pipe.generate("gulls over the sea", output=tmp_path / "b.mp4", seed=4)
        again = pipe.generate("a red fox", output=tmp_path / "c.mp4", seed=3)
        with pytest.raises(UserError, match="--frames 130 is not 8k\\+1"):
            pipe.generate("x", output=tmp_path / "d.mp4", frames=130)
    assert sum(line.startswith("executor: torch") for line in lines) == 1
    frames = [np.stack([f.to_ndarray() for f in _decoded(p)[0]]) for p in (first, tmp_path / "b.mp4", again)]
    assert np.array_equal(frames[0], frames[2]) and not np.array_equal(frames[0], frames[1])
    assert not (tmp_path / "d.mp4").exists()


def _base(tmp_path) -> RunRequest:
    profile = load_profile(PROFILE)
    return RunRequest("", profile, tiny_source(tmp_path), tmp_path, profile.buckets[0], 0, "auto", tmp_path / "o.mp4")


@pytest.mark.parametrize("arguments, needle", [
    ({"prompt": " "}, "the prompt is empty"),
    ({"seed": -1}, "--seed -1 is out of range"),
    ({"width": 800}, "--width 800 is not a multiple of 64"),
    ({"width": 1024, "height": 576}, "no bucket 1024x576x121"),
    ({"pipeline": "turbo"}, "pipeline 'turbo' is not one of: distilled, two-stage, hq"),
    ({"guidance": {"cfg": 3}}, "unknown option 'cfg'"),
    ({"guidance": {"video_cfg_guidance_scale": 3.0}}, "--video-cfg-guidance-scale has no effect with --pipeline "
                                                       "distilled"),
    ({"output": "no/such/folder/x.mp4"}, "folder no/such/folder does not exist"),
])
def test_the_api_refuses_what_run_refuses_with_the_same_message(tmp_path, arguments, needle):
    arguments = {"prompt": "a red fox", "output": tmp_path / "x.mp4", **arguments}
    with pytest.raises(UserError) as err:
        clip_request(_base(tmp_path), arguments.pop("prompt"), log=lambda line: None, **arguments)
    assert needle in str(err.value) and err.value.hint
    assert os.listdir(tmp_path) == []


def test_open_pipeline_refuses_bad_choices_before_loading(tmp_path):
    with pytest.raises(UserError, match="executor 'cuda' is not one of"):
        open_pipeline(PROFILE, model="tiny", artifacts=tmp_path, executor="cuda")
    with pytest.raises(UserError, match="not generated yet"):
        open_pipeline(PROFILE, model="tiny", artifacts=tmp_path)
