"""`ltx-trt run`'s defaults are the official ones, and its checks need no model."""

import pytest

from ltx_trt.runtime.errors import UserError
from ltx_trt.runtime.profiles import load_profile
from ltx_trt.runtime.run import DEFAULT_SEED, select_bucket


def test_default_seed_is_ltx_pipelines_default():
    from ltx_trt.model.compat import install_torchaudio_placeholder

    install_torchaudio_placeholder()  # ltx_pipelines.utils imports ltx-core's audio VAE
    from ltx_pipelines.utils.constants import PipelineParams

    assert DEFAULT_SEED == PipelineParams().seed


def test_default_size_is_the_profiles_first_bucket_and_missing_flags_come_from_it():
    profile = load_profile("rtx4090")
    assert select_bucket(profile, None, None, None) == profile.buckets[0]
    assert select_bucket(profile, 1280, 704, 241) == profile.buckets[1]
    with pytest.raises(UserError, match="no bucket 768x512x241"):
        select_bucket(profile, None, None, 241)
