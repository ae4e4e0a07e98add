"""`ltx-trt doctor`'s machine facts and profile reasons, on GPUs this machine does not have (faked)."""

from ltx_trt.commands import doctor
from ltx_trt.core.profiles import available_profiles, load_profile
from ltx_trt.runtime import devices

RTX4080 = devices.Gpu("NVIDIA GeForce RTX 4080", "8.9", 15.6)
RTX4090 = devices.Gpu("NVIDIA GeForce RTX 4090", "8.9", 23.6)


def _report(tmp_path, monkeypatch, gpu, free=None, driver="580.159.04"):
    monkeypatch.setattr(devices, "cuda_gpu", lambda: gpu)
    monkeypatch.setattr(devices, "free_vram_gib", lambda: free)
    monkeypatch.setattr(devices, "driver_version", lambda: driver)
    return doctor.report(tmp_path)


def test_a_16_gb_card_is_told_the_vram_rule_not_only_the_compute_capability(tmp_path, monkeypatch):
    lines = _report(tmp_path, monkeypatch, RTX4080)
    assert "profile: none fits this GPU:" in lines
    assert "  rtx4090: needs 21.6 GiB of VRAM (24 GiB card)" in lines
    assert "  rtx3060: targets compute capability 8.6" in lines


def test_the_gpu_line_has_driver_and_free_vram_and_the_host_line_ram_and_disk(tmp_path, monkeypatch):
    lines = _report(tmp_path, monkeypatch, RTX4090, free=22.0)
    assert lines[0] == "GPU: NVIDIA GeForce RTX 4090, compute capability 8.9, 23.6 GiB (22.0 free), driver 580.159.04"
    host = next(line for line in lines if line.startswith("host: "))
    assert "RAM " in host and "available" in host and f"GiB free for {tmp_path}" in host
    assert "profile: rtx4090 (pass --gpu rtx4090)" in lines and not any("warning" in line for line in lines)


def test_a_resident_budget_above_the_free_vram_is_a_warning_with_what_to_do(tmp_path, monkeypatch):
    lines = _report(tmp_path, monkeypatch, RTX4090, free=6.5)
    warning = next(line for line in lines if "warning" in line)
    assert "6.5 GiB is free now" in warning and "--resident-gib" in warning


def test_host_memory_is_read_from_meminfo_and_missing_facts_are_none(tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       25165824 kB\nMemFree: 1 kB\nMemAvailable:   12582912 kB\n")
    assert devices.host_memory_gib(meminfo) == (24.0, 12.0)
    assert devices.host_memory_gib(tmp_path / "absent") is None
    assert devices.free_disk_gib(tmp_path / "not" / "yet") > 0  # its nearest existing parent


def test_every_profile_lists_its_buckets_and_the_pipelines(tmp_path, monkeypatch):
    monkeypatch.setattr(devices, "cuda_gpu", lambda: None)
    lines = doctor.report(tmp_path)
    head = next(i for i, line in enumerate(lines) if line.startswith("buckets"))
    assert all(name in lines[head] for name in ("distilled", "two-stage", "hq"))
    for name in available_profiles():
        row = next(line for line in lines[head + 1:] if line.startswith(f"  {name}: "))
        assert all(f"{b.width}x{b.height}x{b.frames}" in row for b in load_profile(name).buckets)
