"""Full-size chained graphs in each profile's precision: export, TensorRT-RTX build without a GPU, and what
the builder says about each engine (activation memory, and its matrix products by precision).

    python benchmarks/build_precisions.py DIR [--gpu rtx4090 --gpu rtx5090 ...] [--json out.json]

DIR is the folder written by benchmarks/make_synthetic.py (with --gemma). For each profile, runs
`ltx-trt export --component transformer --component text_encoder` and `ltx-trt build-engines` into
DIR/artifacts-<profile> (each as its own process, wall time measured), then prints one Markdown row per
engine from the engine manifest: size, the builder's weights and activation bytes and its layer dump
counted (build_engines/engine_build.py memory_report: `gemm FP8 x34` = 34 FP8 GEMMs).
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path


def run(command: list[str], log: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    log.write_text(" ".join(command) + "\n" + done.stdout + done.stderr)
    if done.returncode:
        sys.exit(f"failed: {' '.join(command)} (see {log})")
    return time.perf_counter() - started


def profile_rows(folder: Path, profile: str) -> tuple[dict, list[dict]]:
    ltx = str(Path(sys.executable).with_name("ltx-trt"))
    model = ["--checkpoint", str(folder / "ltx-2.3-22b-synthetic.safetensors")]
    artifacts = ["--artifacts", str(folder / f"artifacts-{profile}")]
    export = run([ltx, "export", "--gpu", profile, *model, "--gemma", str(folder / "gemma-3-12b-synthetic"),
                  "--component", "transformer", "--component", "text_encoder", *artifacts],
                 folder / f"export-{profile}.log")
    build = run([ltx, "build-engines", "--gpu", profile, *model, *artifacts], folder / f"build-{profile}.log")
    engines = next((folder / f"artifacts-{profile}").glob(f"*/{profile}/engines"))
    manifest = json.loads((engines / "manifest.json").read_text())
    rows = []
    for key, entry in sorted(manifest["engines"].items()):
        memory = entry.get("memory", {})
        rows.append({"engine": key, "precision": entry.get("precision"), "size_bytes": entry.get("size_bytes"),
                     "weights_bytes": memory.get("weights_bytes"), "activation_bytes": memory.get("activation_bytes"),
                     "matrix_products": memory.get("matrix_products", {}), "build_seconds": entry.get("build_seconds")})
    return {"export_s": export, "build_s": build, "targets": manifest.get("compute_capabilities")}, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--gpu", action="append", help="profiles (default: rtx3060, rtx4090, rtx5090)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    report = {}
    for profile in args.gpu or ["rtx3060", "rtx4090", "rtx5090"]:
        summary, rows = profile_rows(args.folder, profile)
        report[profile] = {"summary": summary, "engines": rows}
        print(f"\n{profile}: export {summary['export_s']:.0f} s, build {summary['build_s']:.0f} s, "
              f"compute capability {', '.join(summary['targets'])}")
        print("| engine | precision | engine MB | activations MB | matrix products |")
        print("|---|---|---|---|---|")
        for r in rows:
            products = ", ".join(f"{k} x{v}" for k, v in r["matrix_products"].items()) or "-"
            print(f"| {r['engine']} | {r['precision']} | {r['size_bytes'] / 1e6:.1f} | "
                  f"{(r['activation_bytes'] or 0) / 1e6:.1f} | {products} |", flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
