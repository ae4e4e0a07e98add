"""The Python API (ltx_trt.api) on the tiny model: the README's example exactly as printed, several clips over one
opened executor, and the CLI's one-line refusals for bad arguments.

The clips are checked by decoding them (tests/e2e/test_run_cli.py's checks). On the CPU the executor is ONNX Runtime
(auto) or torch; both keep the model files, their modules and the transformer's packed weights between clips
(commands/session.py, commands/keep.py).
"""

import os
import re
from pathlib import Path

import numpy as np
import pytest

from ltx_trt.api import UserError, open_pipeline
from ltx_trt.commands import opening
from ltx_trt.commands.api import clip_request
from ltx_trt.commands.request import RunRequest
from ltx_trt.core.profiles import load_profile
from ltx_trt.core.source import tiny_source
from ltx_trt.model import ltx23_config, synthetic
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
    # weight packing is announced and timed as a stage of its own (#13 item 4): Gemma's in every clip, the
    # transformer's once, kept for the second clip (the CPU's RAM holds both sets: commands/keep.py)
    assert out.count("pack (text encoder weights) ...") == 2 and out.count("pack (transformer weights) ...") == 1
    assert out.count("transformer weights kept from the previous clip") == 1
    assert all(re.search(r", pack \d+\.\d s, text ", line) for line in out.splitlines() if line.startswith("done in "))
    for name in ("clip-0.mp4", "clip-1.mp4"):
        _check_clip(tmp_path / name)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["artifacts", "clip-0.mp4", "clip-1.mp4"]


def test_a_clip_after_others_equals_the_first_with_the_same_prompt_and_seed(exported, tmp_path, monkeypatch):
    """Nothing of a clip leaks into the next: the torch executor's kept modules, fresh chains, the transformer's
    weights kept unchanged (read and packed by the first clip only); a clip with a LoRA packs its own."""
    reads = _count_transformer_reads(monkeypatch)
    lora = tmp_path / "style.safetensors"
    synthetic.write_lora(lora, ltx23_config.tiny_config(), rank=4, seed=7)
    lines, read_by = [], []
    with open_pipeline(PROFILE, model="tiny", artifacts=exported, executor="torch", log=lines.append) as pipe:
        for name, prompt, seed, loras in (("a", "a red fox", 3, ()), ("b", "gulls over the sea", 4, ()),
                                          ("c", "a red fox", 3, ()), ("e", "a red fox", 3, (f"{lora}:0.7",))):
            pipe.generate(prompt, output=tmp_path / f"{name}.mp4", seed=seed, loras=loras)
            read_by.append(len(reads))
        with pytest.raises(UserError, match="--frames 130 is not 8k\\+1"):
            pipe.generate("x", output=tmp_path / "d.mp4", frames=130)
    assert sum(line.startswith("executor: torch") for line in lines) == 1
    # the first clip (a fresh session's) reads every transformer weight; b and c none; the LoRA clip all again
    assert read_by[0] > 0 and read_by[1] == read_by[2] == read_by[0] and read_by[3] - read_by[2] >= read_by[0]
    assert sum("transformer weights kept from the previous clip" in line for line in lines) == 2
    assert any("released: this clip runs on another weight set" in line for line in lines)
    frames = [np.stack([f.to_ndarray() for f in _decoded(tmp_path / f"{n}.mp4")[0]]) for n in "abce"]
    assert np.array_equal(frames[0], frames[2]) and not np.array_equal(frames[0], frames[1])
    assert not np.array_equal(frames[0], frames[3])  # the LoRA changed the weights
    assert not (tmp_path / "d.mp4").exists()


def _count_transformer_reads(monkeypatch) -> list:
    """Every transformer weight the chains read from the checkpoint (commands/opening.py's reader) is appended."""
    reads, real = [], opening.checkpoint_reader

    def counting(checkpoint):
        read = real(checkpoint)

        def reading(part, block, name):
            reads.append((part, block, name))
            return read(part, block, name)

        return reading

    monkeypatch.setattr(opening, "checkpoint_reader", counting)
    return reads


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
