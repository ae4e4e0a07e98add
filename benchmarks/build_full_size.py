"""Try the full-size TensorRT-RTX build on this machine, with a memory watchdog.

    python benchmarks/build_full_size.py ARTIFACTS --checkpoint FILE [--gpu rtx4090] [--limit-gib 21]

Runs `ltx-trt build-engines` on an artifacts folder written by benchmarks/export_full_size.py,
samples the process tree's RSS every 0.5 s, and stops it (SIGKILL) above --limit-gib so that the
machine's other work survives an out-of-memory build. Prints wall time, peak RSS and the outcome.
"""

import argparse
import subprocess
import sys
import time
from pathlib import Path

import psutil


def tree_rss(process: psutil.Process) -> int:
    total = 0
    for p in [process, *process.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("artifacts", type=Path)
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--gpu", default="rtx4090")
    parser.add_argument("--limit-gib", type=float, default=21.0)
    args = parser.parse_args()
    command = [str(Path(sys.executable).with_name("ltx-trt")), "build-engines", "--gpu", args.gpu,
               "--checkpoint", str(args.checkpoint), "--artifacts", str(args.artifacts)]
    log = (args.artifacts / "build.log").open("w")
    t0 = time.perf_counter()
    child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    watched, peak, killed = psutil.Process(child.pid), 0, False
    while child.poll() is None:
        peak = max(peak, tree_rss(watched))
        if peak > args.limit_gib * 2**30:
            child.kill()
            killed = True
        time.sleep(0.5)
    wall = time.perf_counter() - t0
    outcome = f"killed above {args.limit_gib} GiB" if killed else f"exit {child.returncode}"
    print(f"{' '.join(command)}\nwall {wall:.0f} s, peak RSS {peak / 2**30:.2f} GiB, {outcome}")


if __name__ == "__main__":
    main()
