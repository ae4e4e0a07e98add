"""Measure the full-size export, one component at a time: wall time and peak RSS of each.

    python benchmarks/export_full_size.py DIR [--gpu rtx4090] [--component NAME ...]

DIR is the folder written by benchmarks/make_synthetic.py. Each component runs as its own
`ltx-trt export --component NAME` process under /usr/bin/time -v (so the peak RSS is that process's
own), into DIR/artifacts-NAME. Prints a Markdown table row per component.
"""

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

from ltx_trt.core.components import COMPONENTS


def run_component(folder: Path, gpu: str, component: str) -> dict:
    command = [str(Path(sys.executable).with_name("ltx-trt")), "export", "--gpu", gpu,
               "--checkpoint", str(folder / "ltx-2.3-22b-synthetic.safetensors"),
               "--gemma", str(folder / "gemma-3-12b-synthetic"),
               "--upsampler", str(folder / "ltx-2.3-spatial-upscaler-x2-synthetic.safetensors"),
               "--component", component, "--artifacts", str(folder / f"artifacts-{component}")]
    t0 = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-v", *command], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    log = done.stdout + done.stderr
    (folder / f"export-{component}.log").write_text(" ".join(command) + "\n" + log)
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", log)
    cpu = sum(float(m) for m in re.findall(r"(?:User|System) time \(seconds\): ([\d.]+)", log))
    return {"component": component, "status": done.returncode, "wall_s": wall, "cpu_s": cpu,
            "peak_rss_gib": int(peak.group(1)) / 2**20 if peak else float("nan"), "command": " ".join(command)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--gpu", default="rtx4090")
    parser.add_argument("--component", action="append", choices=COMPONENTS)
    args = parser.parse_args()
    print("| component | exit | wall s | CPU s (user+sys) | peak RSS GiB |")
    print("|---|---|---|---|---|")
    for component in args.component or COMPONENTS:
        r = run_component(args.folder, args.gpu, component)
        print(f"| {component} | {r['status']} | {r['wall_s']:.0f} | {r['cpu_s']:.0f} | {r['peak_rss_gib']:.2f} |",
              flush=True)


if __name__ == "__main__":
    main()
