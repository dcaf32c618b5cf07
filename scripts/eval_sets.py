#!/usr/bin/env python3
"""Run one of the project's named evaluation sets through the full pipeline, then evaluate it.

The sets are the synthetic sequences every gaze/state or model choice has been measured on
(docs/gaze_state.md); their seeds are disjoint from training (< 10000) and from the models' test
scenes (10000-10059), so each names drivers no model has seen:

    validation      seeds 30000-30003 x dashboard, mirror x drive (8 runs): make choices here
    validation_pillar  seeds 30000-30003 x pillar x drive (4 runs): the unseen mount's
                    validation (first used in the thirteenth session)
    held_out        seeds 20000-20002 x dashboard, pillar x drive, and 20000-20001 x dashboard,
                    pillar x vats, activities (14 runs): the acceptance figure; every use is a
                    spent look, so use it once per candidate, after validation

Each run is `python run_monitor.py --source synthetic:seed=S,scenario=SC,mount=M --fast
--headless --out OUT/S_M_SC [options after --]`. Runs whose folder already holds a summary.json
are kept, not redone (delete the folder to redo one), so an interrupted set resumes. Then
`python -m monitor.gaze.evaluate_run` reports each run and the pooled figures.

    python scripts/eval_sets.py validation --out /work/data/eval/shipped_val
    python scripts/eval_sets.py validation --out runs/cand_val -- --head-model cand/head_poseidon_depth.onnx
    python scripts/eval_sets.py held_out --out runs/x --dry-run      # print the commands only
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class SequenceSpec:
    """One synthetic sequence of a set: the synthetic source's seed, camera mount and scenario."""
    seed: int
    mount: str
    scenario: str

    @property
    def name(self) -> str:
        return f"{self.seed}_{self.mount}_{self.scenario}"

    @property
    def source(self) -> str:
        return f"synthetic:seed={self.seed},scenario={self.scenario},mount={self.mount}"


def _grid(seeds: range, mounts: tuple[str, ...], scenarios: tuple[str, ...]) -> tuple[SequenceSpec, ...]:
    return tuple(SequenceSpec(s, m, sc) for sc in scenarios for s in seeds for m in mounts)


EVAL_SETS: dict[str, tuple[SequenceSpec, ...]] = {
    "validation": _grid(range(30000, 30004), ("dashboard", "mirror"), ("drive",)),
    "validation_pillar": _grid(range(30000, 30004), ("pillar",), ("drive",)),
    "held_out": _grid(range(20000, 20003), ("dashboard", "pillar"), ("drive",))
    + _grid(range(20000, 20002), ("dashboard", "pillar"), ("vats", "activities")),
}


def run_command(spec: SequenceSpec, out: Path, extra: list[str]) -> list[str]:
    return [sys.executable, str(ROOT / "run_monitor.py"), "--source", spec.source, "--fast", "--headless",
            "--out", str(out), *extra]


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:  # everything after -- goes to run_monitor.py
        at = argv.index("--")
        argv, extra = argv[:at], argv[at + 1:]
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                 usage="%(prog)s SET --out DIR [--dry-run] [-- run_monitor.py options]")
    ap.add_argument("set", choices=sorted(EVAL_SETS), help="which set of sequences")
    ap.add_argument("--out", type=Path, required=True, help="folder for the set's run folders (one per sequence)")
    ap.add_argument("--dry-run", action="store_true", help="print the run commands and stop")
    args = ap.parse_args(argv)
    specs = EVAL_SETS[args.set]
    dirs = [args.out / s.name for s in specs]
    if args.dry_run:
        for spec, d in zip(specs, dirs):
            print(" ".join(run_command(spec, d, extra)))
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    failed = []
    for i, (spec, d) in enumerate(zip(specs, dirs), 1):
        if (d / "summary.json").is_file():
            print(f"[{i}/{len(specs)}] {spec.name}: kept (has summary.json)", flush=True)
            continue
        t0 = time.monotonic()
        log = args.out / f"{spec.name}.log"
        with log.open("w") as fh:
            rc = subprocess.call(run_command(spec, d, extra), stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT)
        print(f"[{i}/{len(specs)}] {spec.name}: {'done' if rc == 0 else f'FAILED (exit {rc}, see {log})'} "
              f"in {time.monotonic() - t0:.0f} s", flush=True)
        if rc != 0:
            failed.append(spec.name)
    if failed:
        print(f"error: {len(failed)} run(s) failed: {', '.join(failed)}; not evaluating an incomplete set",
              file=sys.stderr)
        return 1
    return subprocess.call([sys.executable, "-m", "monitor.gaze.evaluate_run", *map(str, dirs)], cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main())
