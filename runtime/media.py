"""Writing the result: an mp4 with H.264 video and AAC audio, like ltx-pipelines' `encode_video`.

Video: libx264 at rate int(fps), yuv420p, codec defaults (no CRF or preset set, as upstream). Audio:
AAC stereo at the vocoder rate (48 kHz), waveform clipped to [-1, 1], x32767 to s16, resampled to
the encoder's format, muxed after the video. Written to a partial file in the same folder and renamed
(runtime.output: only over a regular file, no partial file left), so a file at `path` is always
complete. Imports av, numpy and torch.
"""

from fractions import Fraction
from pathlib import Path
from typing import Iterable

import av
import torch

from ltx_trt.runtime.output import partial_file


def write_mp4(path: Path, video: torch.Tensor | Iterable[torch.Tensor], fps: float,
              audio: torch.Tensor | None, sample_rate: int) -> Path:
    """Write frames (F, H, W, 3) uint8, given whole or as chunks, and a (2, S) float waveform."""
    path = Path(path)
    with partial_file(path) as tmp:
        _encode(str(tmp), video, fps, audio, sample_rate, container_format=None if path.suffix else "mp4")
    return path


def pad_to(waveform: torch.Tensor, samples: int) -> torch.Tensor:
    """(channels, S) -> (channels, samples): trailing silence if shorter, unchanged if already as long."""
    missing = samples - waveform.shape[-1]
    return torch.nn.functional.pad(waveform, (0, missing)) if missing > 0 else waveform


def _encode(filename: str, video, fps: float, audio: torch.Tensor | None, sample_rate: int,
            container_format: str | None) -> None:
    chunks = iter([video] if isinstance(video, torch.Tensor) else video)
    first = next(chunks)
    with av.open(filename, mode="w", format=container_format) as container:
        stream = container.add_stream("libx264", rate=int(fps))
        stream.height, stream.width = first.shape[1], first.shape[2]
        stream.pix_fmt = "yuv420p"
        audio_stream = _audio_stream(container, sample_rate) if audio is not None else None
        for chunk in (first, *chunks):
            for frame in chunk.to("cpu", torch.uint8).numpy():
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())  # flush
        if audio_stream is not None:
            _write_audio(container, audio_stream, audio, sample_rate)


def _audio_stream(container, sample_rate: int):
    stream = container.add_stream("aac", rate=sample_rate)
    stream.codec_context.sample_rate = sample_rate
    stream.codec_context.layout = "stereo"
    stream.codec_context.time_base = Fraction(1, sample_rate)
    return stream


def _write_audio(container, stream, waveform: torch.Tensor, sample_rate: int) -> None:
    """(2, S) float in [-1, 1] -> interleaved s16 -> the encoder's format, then flush."""
    if waveform.ndim != 2 or waveform.shape[0] != 2:
        raise ValueError(f"expected a (2, samples) stereo waveform, got {tuple(waveform.shape)}")
    samples = (waveform.float().clip(-1.0, 1.0) * 32767.0).to(torch.int16).T.contiguous()
    frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1).cpu().numpy(), format="s16", layout="stereo")
    frame.sample_rate = sample_rate
    codec = stream.codec_context
    resampler = av.audio.resampler.AudioResampler(format=codec.format or "fltp", layout=codec.layout or "stereo",
                                                  rate=codec.sample_rate or sample_rate)
    next_pts = 0
    for resampled in resampler.resample(frame):
        if resampled.pts is None:
            resampled.pts = next_pts
        next_pts += resampled.samples
        resampled.sample_rate = sample_rate
        container.mux(stream.encode(resampled))
    container.mux(stream.encode())  # flush
