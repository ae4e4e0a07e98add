from pathlib import Path

import pytest

from ltx_trt.core.errors import UserError
from ltx_trt.core.profiles import PROFILES_DIR, available_profiles, load_profile, parse_profile


def test_shipped_profiles_load_and_have_the_required_buckets():
    assert set(available_profiles()) >= {"rtx3060", "rtx4090", "rtx5090", "h100"}
    for name in available_profiles():
        profile = load_profile(name)
        shapes = {(b.width, b.height, b.frames, b.fps) for b in profile.buckets}
        assert (768, 512, 121, 24) in shapes
        if name != "rtx3060":
            assert (1280, 704, 241, 24) in shapes
    assert load_profile("h100").backend == "tensorrt"
    assert {load_profile(n).backend for n in ("rtx3060", "rtx4090", "rtx5090")} == {"tensorrt_rtx"}


def test_unknown_profile_names_the_valid_ones():
    with pytest.raises(UserError) as err:
        load_profile("rtx9999")
    assert "rtx9999" in err.value.message and "rtx4090" in err.value.hint


def _write_variant(tmp_path: Path, old: str, new: str) -> Path:
    text = (PROFILES_DIR / "rtx4090.toml").read_text()
    assert old in text
    path = tmp_path / "variant.toml"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize("old,new,needle", [
    ('vram_gib = 24', 'vram_gib = 24\nvram_gb = 24', "vram_gb"),  # unknown key
    ('backend = "tensorrt_rtx"\n', '', "backend"),  # missing key
    ('vram_gib = 24', 'vram_gib = "24"', "vram_gib"),  # wrong type
    ('transformer = "fp8"', 'transformer = "fp12"', "transformer"),  # bad choice
    ('frames = 121', 'frames = 120', "8k+1"),  # invalid bucket
])
def test_profile_errors_name_the_file_and_the_key(tmp_path, old, new, needle):
    path = _write_variant(tmp_path, old, new)
    with pytest.raises(UserError) as err:
        parse_profile(path)
    assert str(path) in err.value.message
    assert needle in str(err.value)


@pytest.mark.parametrize("profile, old, new, needles", [
    ("rtx3060", 'transformer = "int4"', 'transformer = "fp8"', ["fp8 transformer needs compute capability 8.9", "8.6",
                                                               "int4"]),
    ("rtx4090", 'transformer = "fp8"', 'transformer = "nvfp4"', ["nvfp4 transformer needs compute capability 12.0",
                                                                 "fp8"]),
    ("rtx4090", 'connector = "bf16"', 'connector = "int4"', ["connector cannot be int4", "bf16"]),
])
def test_precisions_a_gpu_or_component_cannot_run_are_refused_with_the_ones_it_can(tmp_path, profile, old, new,
                                                                                   needles):
    text = (PROFILES_DIR / f"{profile}.toml").read_text()
    assert old in text
    path = tmp_path / f"{profile}.toml"
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(UserError) as err:
        parse_profile(path)
    for needle in needles:
        assert needle in str(err.value)


def test_shipped_profiles_quantize_the_transformer_for_their_gpu():
    assert {n: load_profile(n).precision["transformer"] for n in ("rtx3060", "rtx4090", "rtx5090", "h100")} == \
        {"rtx3060": "int4", "rtx4090": "fp8", "rtx5090": "fp8", "h100": "fp8"}


def test_bucket_lookup_lists_the_buckets_when_missing():
    profile = load_profile("rtx4090")
    assert profile.bucket(768, 512, 121).name == "768x512-5s"
    with pytest.raises(UserError) as err:
        profile.bucket(640, 480, 121)
    assert "768x512x121" in err.value.hint
