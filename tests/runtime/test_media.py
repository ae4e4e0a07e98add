"""The mp4 decodes back to the frames, size, rate and audio length it was written with."""

import av
import pytest
import torch

from ltx_trt.core import shapes
from ltx_trt.core.errors import UserError
from ltx_trt.runtime.media import write_mp4

FPS, FRAMES, HEIGHT, WIDTH = 24, 17, 64, 96
GRID = shapes.latent_grid(WIDTH, HEIGHT, FRAMES, FPS)


def _clip():
    generator = torch.Generator().manual_seed(0)
    video = torch.randint(0, 256, (FRAMES, HEIGHT, WIDTH, 3), generator=generator, dtype=torch.uint8)
    samples = shapes.audio_samples(GRID.audio_tokens)  # what the audio decoder gives for this clip
    audio = 1.5 * torch.rand(2, samples, generator=generator) - 0.75  # some beyond [-1, 1]: clipped
    return video, audio


def _decode(path):
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video)]
        rate = video.average_rate
        container.seek(0)
        audio = container.streams.audio[0]
        samples = sum(f.samples for f in container.decode(audio))
        return frames, rate, samples, audio.rate, audio.layout.name, audio.codec_context.name, video.codec_context.name


def test_mp4_decodes_to_the_frames_size_rate_and_audio_length_written(tmp_path):
    video, audio = _clip()
    path = write_mp4(tmp_path / "out.mp4", video.split(5), FPS, audio, 48_000)  # chunks, as tiled decoding yields
    frames, rate, samples, sample_rate, layout, audio_codec, video_codec = _decode(path)
    assert len(frames) == FRAMES and frames[0].shape == (HEIGHT, WIDTH, 3)
    assert rate == FPS and (video_codec, audio_codec, sample_rate, layout) == ("h264", "aac", 48_000, "stereo")
    one_audio_frame = 1 / shapes.AUDIO_LATENTS_PER_SECOND  # 40 ms: one audio latent
    assert abs(samples / sample_rate - FRAMES / FPS) <= one_audio_frame
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]  # the temporary file was renamed


def test_unwritable_output_path_is_a_user_error(tmp_path):
    video, audio = _clip()
    (tmp_path / "file").write_text("")
    with pytest.raises(UserError, match="cannot write") as err:
        write_mp4(tmp_path / "file" / "out.mp4", video, FPS, audio, 48_000)
    assert "--output" in err.value.hint
    with pytest.raises(UserError, match="is a folder"):
        write_mp4(tmp_path, video, FPS, audio, 48_000)


def test_clip_gets_the_usual_file_permissions(tmp_path):
    import os
    import stat

    import torch

    from ltx_trt.runtime.media import write_mp4

    path = write_mp4(tmp_path / "clip.mp4", torch.zeros(9, 64, 64, 3, dtype=torch.uint8), 24,
                     torch.zeros(2, 48000), 48000)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
