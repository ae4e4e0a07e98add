"""`ltx-trt run`'s defaults are the official ones, and its checks need no model."""

import pytest

from ltx_trt.commands.request import DEFAULT_SEED, select_bucket
from ltx_trt.core.errors import UserError
from ltx_trt.core.profiles import load_profile


def test_default_seed_is_ltx_pipelines_default():
    from ltx_trt.core.compat import install_torchaudio_placeholder

    install_torchaudio_placeholder()  # ltx_pipelines.utils imports ltx-core's audio VAE
    from ltx_pipelines.utils.constants import PipelineParams

    assert DEFAULT_SEED == PipelineParams().seed


def test_default_size_is_the_profiles_first_bucket_and_missing_flags_come_from_it():
    profile = load_profile("rtx4090")
    assert select_bucket(profile, None, None, None) == profile.buckets[0]
    assert select_bucket(profile, 1280, 704, 241) == profile.buckets[1]
    with pytest.raises(UserError, match="no bucket 768x512x241"):
        select_bucket(profile, None, None, 241)


def test_resident_gib_flag_overrides_the_profiles_budget_only(monkeypatch, tmp_path):
    from click.testing import CliRunner

    from ltx_trt.cli import main
    from ltx_trt.commands import run as runner

    seen = []
    monkeypatch.setattr(runner, "run", lambda request, log: seen.append(request.profile))
    args = ["run", "--gpu", "rtx4090", "--model", "tiny", "--artifacts", str(tmp_path), "--prompt", "x"]
    assert CliRunner().invoke(main, [*args, "--resident-gib", "12.5"]).exit_code == 0
    assert CliRunner().invoke(main, args).exit_code == 0
    shipped = load_profile("rtx4090")
    assert seen[0].memory.resident_gib == 12.5 and seen[1] == shipped
    assert seen[0].memory.weight_streaming == shipped.memory.weight_streaming and seen[0].buckets == shipped.buckets
    refused = CliRunner().invoke(main, [*args, "--resident-gib", "0.5"])
    assert refused.exit_code == 1 and "--resident-gib 0.5 is out of range" in refused.output


def test_compile_auto_takes_only_the_block_graphs_that_quantize_activations():
    from ltx_trt.commands.opening import _compiles
    from ltx_trt.core.plan import Graph

    graph = lambda variant: Graph("transformer", variant, (), (), "fp8")  # noqa: E731
    parts = ["b.stage1.pre", "b.stage1.block", "b.stage1.block_fp8", "b.stage1.block_nvfp4", "block_int4", "b.post"]
    assert [p for p in parts if _compiles("auto", graph(p))] == ["b.stage1.block_fp8", "b.stage1.block_nvfp4"]
    assert [p for p in parts if _compiles("on", graph(p))] == parts[1:5]
    assert not any(_compiles("off", graph(p)) for p in parts)


def test_compiled_kernels_are_kept_beside_the_artifacts_unless_the_user_chose_a_cache(tmp_path, monkeypatch):
    import os

    from ltx_trt.commands.opening import keep_compiled_kernels

    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    keep_compiled_kernels(tmp_path / "tiny" / "torch-compile")
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(tmp_path / "tiny" / "torch-compile")
    assert (tmp_path / "tiny" / "torch-compile").is_dir()
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "mine"))
    keep_compiled_kernels(tmp_path / "other")
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(tmp_path / "mine") and not (tmp_path / "other").exists()
