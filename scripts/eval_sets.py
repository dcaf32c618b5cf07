#!/usr/bin/env python3
"""Run one of the project's named evaluation sets through the full pipeline, then evaluate it.

The sets are the synthetic sequences every gaze/state or model choice has been measured on
(docs/gaze_state.md); their seeds are disjoint from every model's training and test scenes (all
below 20000: docs/models.md and the model cards), so each names drivers no model has seen:

    validation      seeds 30000-30003 x dashboard, mirror x drive (8 runs): make choices here
    validation_pillar  seeds 30000-30003 x pillar x drive (4 runs): the unseen mount's
                    validation (first used in the thirteenth session)
    validation_activities  seeds 30000-30003 x dashboard, pillar x vats, activities (16 runs):
                    the held-out set's other scenarios (hands near the face, phone, VATS glances)
                    on the validation drivers (first used in the seventeenth session)
    validation_more  seeds 30004-30011 x dashboard, mirror, pillar x drive and x dashboard, pillar
                    x vats, activities (56 runs): eight more validation drivers (nineteenth session),
                    because choices made on four drivers did not carry over to fresh ones
    held_out        seeds 20000-20002 x dashboard, pillar x drive, and 20000-20001 x dashboard,
                    pillar x vats, activities (14 runs): the acceptance figure; every use is a
                    spent look, so use it once per candidate, after validation
    held_out_fresh  the same grid on seeds 50000-50002 (14 runs): made in the nineteenth session,
                    when held_out had been looked at eight times, to check the final system on
                    drivers no choice has seen; keep it for such checks, never for choosing
    held_out_third  the same grid on seeds 60000-60002 (14 runs): made in the twentieth session,
                    when both sets above had been looked at often and a change had been prompted
                    by a held_out run; run once on the final system
    held_out_fourth the same grid on seeds 70000-70002 (14 runs): made in the twenty-first
                    session, after held_out_third had been spent on a system that missed a VATS;
                    run once on the final system (the retrained depth head), and once more with
                    the previous head model as a disclosed comparison: spent
    validation_sunglasses  validation drivers 30000, 30001, 30003 in sunglasses (30002 wears them
                    anyway) x dashboard, pillar x drive, vats, activities (18 runs): eyes hidden, so only
                    the head model tells the zones apart (twenty-second session)
    held_out_fifth  the same grid as held_out on seeds 80000-80002 (14 runs): made in the
                    twenty-second session, after held_out_fourth was spent; run once on the final system
                    (no eyewear among its drivers): spent

Each run is `python run_monitor.py --source synthetic:seed=S,scenario=SC,mount=M[,glasses=G] --fast
--headless --out OUT/S_M_SC[_G] [options after --]` (run from the repository root, so relative paths
after -- are read from there; run_monitor's own parser checks them first, and --source / --out
are the set's to give). A run whose summary.json says it finished (exit code 0) is kept,
so an interrupted set resumes; a run that failed or was cut off is removed and made again. The
options after -- are written to OUT/eval_set.json, and a second call into the same OUT with other
options is refused (the set would mix models). Then `python -m monitor.gaze.evaluate_run` reports
each run and the pooled figures (with the --layout given after --, if any).

    python scripts/eval_sets.py validation --out /work/data/eval/shipped_val
    python scripts/eval_sets.py validation --out runs/cand_val -- --head-model cand/head_poseidon_depth.onnx
    python scripts/eval_sets.py held_out --out runs/x --dry-run      # print the commands only
"""
from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.cli import build_parser as run_monitor_parser, distraction_thresholds  # noqa: E402
from monitor.gaze.stage import gaze_state_config  # noqa: E402
from monitor.gaze.state import DistractionConfig  # noqa: E402
from monitor.preflight import make_out_dir  # noqa: E402
from monitor.summary import SUMMARY_FILE  # noqa: E402


@dataclass(frozen=True)
class SequenceSpec:
    """One synthetic sequence of a set: the synthetic source's seed, camera mount and scenario, and
    eyewear other than the seed's own (None: the seed's; the rest of the scene is the seed's either way)."""
    seed: int
    mount: str
    scenario: str
    glasses: str | None = None

    @property
    def name(self) -> str:
        return f"{self.seed}_{self.mount}_{self.scenario}" + (f"_{self.glasses}" if self.glasses else "")

    @property
    def source(self) -> str:
        return (f"synthetic:seed={self.seed},scenario={self.scenario},mount={self.mount}"
                + (f",glasses={self.glasses}" if self.glasses else ""))


def _grid(seeds: Iterable[int], mounts: tuple[str, ...], scenarios: tuple[str, ...], glasses: str | None = None
          ) -> tuple[SequenceSpec, ...]:
    return tuple(SequenceSpec(s, m, sc, glasses) for sc in scenarios for s in seeds for m in mounts)


EVAL_SETS: dict[str, tuple[SequenceSpec, ...]] = {
    "validation": _grid(range(30000, 30004), ("dashboard", "mirror"), ("drive",)),
    "validation_pillar": _grid(range(30000, 30004), ("pillar",), ("drive",)),
    "validation_activities": _grid(range(30000, 30004), ("dashboard", "pillar"), ("vats", "activities")),
    "validation_more": _grid(range(30004, 30012), ("dashboard", "mirror", "pillar"), ("drive",))
    + _grid(range(30004, 30012), ("dashboard", "pillar"), ("vats", "activities")),
    "held_out": _grid(range(20000, 20003), ("dashboard", "pillar"), ("drive",))
    + _grid(range(20000, 20002), ("dashboard", "pillar"), ("vats", "activities")),
    "held_out_fresh": _grid(range(50000, 50003), ("dashboard", "pillar"), ("drive",))
    + _grid(range(50000, 50002), ("dashboard", "pillar"), ("vats", "activities")),
    "held_out_third": _grid(range(60000, 60003), ("dashboard", "pillar"), ("drive",))
    + _grid(range(60000, 60002), ("dashboard", "pillar"), ("vats", "activities")),
    "held_out_fourth": _grid(range(70000, 70003), ("dashboard", "pillar"), ("drive",))
    + _grid(range(70000, 70002), ("dashboard", "pillar"), ("vats", "activities")),
    "validation_sunglasses": _grid((30000, 30001, 30003), ("dashboard", "pillar"), ("drive", "vats", "activities"),
                                   glasses="sunglasses"),
    "held_out_fifth": _grid(range(80000, 80003), ("dashboard", "pillar"), ("drive",))
    + _grid(range(80000, 80002), ("dashboard", "pillar"), ("vats", "activities")),
}


def run_command(spec: SequenceSpec, out: Path, extra: list[str]) -> list[str]:
    return [sys.executable, str(ROOT / "run_monitor.py"), "--source", spec.source, "--fast", "--headless",
            "--out", str(out), *extra]


def finished(run_dir: Path) -> bool:
    """True when the run's summary says it ran to the end (run_monitor writes a summary on
    failures and Ctrl-C too, with their exit code)."""
    try:
        return json.loads((run_dir / SUMMARY_FILE).read_text()).get("exit_code") == 0
    except (OSError, ValueError):
        return False


def _check_options(out: Path, set_name: str, extra: list[str]) -> str | None:
    """An error message if OUT was made for another set or with other run_monitor options."""
    record = out / "eval_set.json"
    # the defaults the options leave in force too: a folder begun before a default changed (the gaze
    # scoring and the face-cover model, eighteenth session; the scoring's own settings, such as the
    # eye-view limit of the nineteenth) must not be finished with the new one
    defaults = run_monitor_parser().parse_args([])
    given = run_monitor_parser().parse_args(extra)  # checked by the caller: the stage these runs get
    try:
        stage = gaze_state_config(given.gaze_scoring, DistractionConfig(**distraction_thresholds(given)))
    except ValueError as exc:  # e.g. --long-distraction-s -1: every run would stop on it
        return str(exc)
    settings = json.loads(json.dumps(asdict(stage)))  # tuples as lists, as read back
    wanted = {"set": set_name, "run_monitor_options": extra,
              "defaults": {"gaze_scoring": defaults.gaze_scoring, "cover_model": defaults.cover_model or "shipped",
                           "gaze_settings": settings}}
    try:
        make_out_dir(out)
    except ValueError as exc:
        return str(exc)
    if record.is_file():
        try:
            had = json.loads(record.read_text())
        except ValueError:
            had = None
        if had != wanted:
            return (f"{out} holds runs made with {had}, not {wanted}: choose another --out "
                    "(or delete it to start again)")
    else:
        record.write_text(json.dumps(wanted, indent=1) + "\n")
    return None


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
    args, unknown = ap.parse_known_args(argv)
    if unknown:
        ap.error(f"unrecognized arguments: {' '.join(unknown)} (run_monitor.py options go after --)")
    # run_monitor's own parser reads the options once: a bad one stops here with its message
    monitor_parser = run_monitor_parser()
    monitor_parser.set_defaults(source=None)
    monitor_opts = monitor_parser.parse_args(extra)
    if monitor_opts.source is not None or monitor_opts.out is not None:
        ap.error("--source and --out are set per run by the set: leave them out of the options after --")
    out = args.out.resolve()
    specs = EVAL_SETS[args.set]
    dirs = [out / s.name for s in specs]
    if args.dry_run:
        for spec, d in zip(specs, dirs):
            print(shlex.join(run_command(spec, d, extra)))
        return 0
    problem = _check_options(out, args.set, extra)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    failed = []
    for i, (spec, d) in enumerate(zip(specs, dirs), 1):
        tag = f"[{i}/{len(specs)}] {spec.name}"
        if finished(d):
            print(f"{tag}: kept (finished before)", flush=True)
            continue
        if d.exists():  # failed or cut off: its partial output must not count
            print(f"{tag}: removing an unfinished earlier run", flush=True)
            shutil.rmtree(d)
        t0 = time.monotonic()
        log = out / f"{spec.name}.log"
        try:
            with log.open("w") as fh:
                rc = subprocess.call(run_command(spec, d, extra), stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT)
        except KeyboardInterrupt:
            print(f"\n{tag}: interrupted; call again with the same options to resume", file=sys.stderr)
            return 130
        ok = rc == 0 and finished(d)
        print(f"{tag}: {'done' if ok else f'FAILED (exit {rc}, see {log})'} in {time.monotonic() - t0:.0f} s",
              flush=True)
        if not ok:
            failed.append(spec.name)
            if rc == 2:  # bad input (a model, an option): every other run would fail the same way
                break
    if failed:
        print(f"error: {len(failed)} run(s) failed: {', '.join(failed)}; not evaluating an incomplete set",
              file=sys.stderr)
        return 1
    layout = ["--layout", monitor_opts.layout] if monitor_opts.layout else []
    return subprocess.call([sys.executable, "-m", "monitor.gaze.evaluate_run", *layout, *map(str, dirs)], cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main())
