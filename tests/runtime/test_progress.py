"""Progress: a stage inside another (weight packing inside the stage that first runs a chain) is counted once, as
a stage of its own, and the outer stage keeps only its own seconds."""

import time

from ltx_trt.runtime.progress import Progress


def test_a_nested_stage_is_timed_as_its_own_and_not_twice():
    lines = []
    progress = Progress(lines.append)
    with progress.stage("text"):
        with progress.stage("pack", "text encoder weights"):
            time.sleep(0.2)
        time.sleep(0.05)
    with progress.stage("stage 1"):
        with progress.stage("pack", "transformer weights"):
            time.sleep(0.1)
    assert lines == ["text ...", "pack (text encoder weights) ...", "stage 1 ...", "pack (transformer weights) ..."]
    seconds = progress.seconds
    assert list(seconds) == ["pack", "text", "stage 1"]
    assert 0.3 <= seconds["pack"] < 0.6 and 0.05 <= seconds["text"] < 0.2 and seconds["stage 1"] < 0.1
    total = float(progress.summary().split()[2])
    assert abs(total - sum(seconds.values())) < 0.1 and total < 0.6  # nothing counted twice
