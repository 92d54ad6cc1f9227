"""The MPD slice reader with orjson vs the standard library's json, on the same slices.

For each parser, in its own fresh subprocess: ``parse`` (only the JSON parse of every
slice, the bytes already read) and ``read`` (``songspace.data.mpd.read_mpd``, i.e.
parsing plus building the dataset). Reports time (best of ``--repeats``), peak RSS
(VmHWM) and the ratio json / orjson. Inputs: the real MPD subset
(``../shared/data/mpd-subset``; skipped with a message when absent) and MPD-shaped
slices written by ``write_slices`` from ``generate_preset("mpd")`` with ``--playlists``
playlists (full schema, 1,000 playlists per slice).

    python benchmarks/bench_mpd_reader.py --playlists 20000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import _peak_rss_mb, run_worker

REPO = Path(__file__).resolve().parents[1]
MPD_SUBSET = REPO.parent / "shared" / "data" / "mpd-subset"
PARSERS = ("json", "orjson")


def worker(args: argparse.Namespace) -> None:
    from songspace.data.mpd import _loader, list_slices, read_mpd

    loads = _loader(args.parser)
    base = _peak_rss_mb()
    t0 = time.perf_counter()
    if args.mode == "parse":
        n = 0
        for _, src in list_slices(args.input):
            n += len(loads(Path(src).read_bytes())["playlists"])
    else:
        n = read_mpd(args.input, parser=args.parser).n_entries
    seconds = time.perf_counter() - t0
    print(json.dumps({"seconds": seconds, "peak_mb": _peak_rss_mb(), "base_mb": base, "n": n}))


def bench(name: str, path: Path, args: argparse.Namespace) -> None:
    print(f"\n{name}: {path}")
    print(f"{'stage':<8}{'parser':<8}{'time s':>9}{'peak MB':>9}{'json/orjson':>13}")
    for mode in ("parse", "read"):
        best: dict[str, dict] = {}
        for parser in PARSERS:
            for _ in range(args.repeats):
                cmd = [
                    sys.executable,
                    __file__,
                    "--worker",
                    "--parser",
                    parser,
                    "--mode",
                    mode,
                    "--input",
                    str(path),
                ]
                r = run_worker(cmd, f"{mode}/{parser}")
                if parser not in best or r["seconds"] < best[parser]["seconds"]:
                    best[parser] = r
        ratio = best["json"]["seconds"] / best["orjson"]["seconds"]
        for parser in PARSERS:
            r = best[parser]
            shown = f"{ratio:>12.2f}x" if parser == "orjson" else ""
            print(f"{mode:<8}{parser:<8}{r['seconds']:>9.2f}{r['peak_mb']:>9.0f}{shown}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--playlists", type=int, default=20_000)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--parser", default="json", help=argparse.SUPPRESS)
    ap.add_argument("--mode", default="read", help=argparse.SUPPRESS)
    ap.add_argument("--input", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}")
    if MPD_SUBSET.is_dir():
        bench("MPD subset (real, reduced schema)", MPD_SUBSET, args)
    else:
        print(f"MPD subset not found at {MPD_SUBSET}: skipped")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "slices"
        cmd = [
            sys.executable,
            "-c",
            "import sys; from songspace.data.synthetic import generate_preset; "
            "from songspace.data.mpd import write_slices; "
            f"write_slices(generate_preset('mpd', scale={args.playlists / 1e6}), sys.argv[1]);"
            "print('{}')",
            str(out),
        ]
        run_worker(cmd, "write slices")
        bench(f"MPD-shaped, {args.playlists:,} playlists (full schema)", out, args)


if __name__ == "__main__":
    main()
