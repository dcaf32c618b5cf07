"""Write the model cards (models/*.md) from the measured files: models/metrics.json
(train.evaluate), models/<name>.metrics.json (training runs) and models/bench.md (exporters.bench).

    python -m train.cards [--models models]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

COMMAND = "python -m train.all --synth-root <synth checkout>  (or only this step: python -m train.cards)"
# What the accuracy below was measured with (train.all makes the same test set and runs the same evaluation)
EVALUATION = ("test set `python -m train.data --out DATA/test --scenes 60 --frames-per-scene 12 --seed-base 10000`; "
              "figures `python -m train.evaluate --models models --test DATA/test --e2e-frames 240` "
              "(writes models/metrics.json)")

ARCH = {
    "head_poseidon_ir": "POSEidon CNN (AutoPOSE sec. 5.1): conv 30@5x5, pool, 30@5x5, pool, 30@4x4, pool, "
                        "30@3x3, 120@3x3 (valid), FC 120 -> 84 -> 3 with dropout 0.5; ReLU + batch norm "
                        "(folded at export). Input: 64x64 IR crop, equalised and standardised.",
    "head_poseidon_depth": "POSEidon CNN as for IR; input: 64x64 depth crop relative to the head distance "
                           "(clip((d - D)/160 mm, -1, 1)).",
    "body_lite": "Watch-R-Patch structure, narrowed for CPU: backbone 16(stride 2)-32-pool-48-48, two reduction "
                 "convs (48, 48), initial stage (3x 3x3 conv 32, 1x1 64, 1x1 21) and 2 refinement stages over "
                 "features ⊕ beliefs (4x dilated 3x3 conv 32, 1x1 32, 1x1 21); stride 4; 160x96 letterboxed depth input.",
}


def _training_scenes(train_sets: list[str] | None) -> str:
    """How the training folders a run used (train.all's names) were made."""
    from train.all import EXTRA_SETS
    parts = ["seeds 0-239 (25 frames each)"]
    extra = {s.name: s for s in EXTRA_SETS}
    used = [Path(p).name for p in train_sets or []]
    for name in dict.fromkeys(used):  # a folder named twice (drawn twice as often) is one set of scenes
        if name in extra:
            s = extra[name]
            where = f", only inside {s.activity} in {'/'.join(s.scenarios)} scenes" if s.activity else ""
            where += (f", only where the gaze dwells on the {s.gaze_zone} in {'/'.join(s.scenarios)} scenes"
                      if s.gaze_zone else "")
            where += f", {'/'.join(s.mounts)} mount" if s.mounts else ""
            each = f"up to {s.frames}" if s.activity or s.gaze_zone else str(s.frames)  # a scene may hold fewer
            parts.append(f"seeds {s.seeds[0]}-{s.seeds[-1]} ({each} frames each{where})")
    return "Training scenes " + " + ".join(parts)


def _speed_rows(bench: str, name: str) -> str:
    rows = [line for line in bench.splitlines() if line.startswith("|") and name in line]
    head = [line for line in bench.splitlines() if line.startswith("# exporters.bench")]
    return "\n".join(head + ["| model | input | median ms | p90 ms |", "|---|---|---|---|"] + rows)


CARD_MODELS = ("head_poseidon_ir", "head_poseidon_depth", "body_lite")
# the training figures a card prints as numbers (an old or odd run file may hold null or text)
TRAINING_NUMBERS = ("steps", "batch", "lr", "weight_decay", "seed", "train_seconds", "final_loss")


def _read_json(path: Path, what: str) -> dict:
    if not path.is_file():
        raise ValueError(f"{path}: missing; {what}")
    try:
        d = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not readable JSON ({exc}); {what}") from None
    if not isinstance(d, dict):
        raise ValueError(f"{path}: not a JSON object; {what}")
    return d


def _check_inputs(name: str, run: dict, run_file: Path, metrics: dict, metrics_file: Path) -> None:
    """What the card of ``name`` reads, checked so that odd files give one line, not a traceback."""
    t, e = run.get("training"), run.get("export")
    if not isinstance(t, dict) or not isinstance(e, dict):
        raise ValueError(f"{run_file}: no 'training' or 'export' section; retrain the model to rewrite it")
    for key in TRAINING_NUMBERS:
        if isinstance(t.get(key), bool) or not isinstance(t.get(key), (int, float)):
            raise ValueError(f"{run_file}: training.{key} is {t.get(key)!r}, not a number; retrain the model "
                             "to rewrite it")
    if not isinstance(e.get("path"), str) or not isinstance(e.get("max_abs_diff"), (int, float)):
        raise ValueError(f"{run_file}: export.path / export.max_abs_diff missing; re-export the model")
    redo = f"run `python -m train.evaluate --models {metrics_file.parent} --test DATA/test --out {metrics_file}`"
    if name.startswith("head"):
        key = f"head_{name.rsplit('_', 1)[1]}"
        if not isinstance(metrics.get(key), dict) or "n" not in metrics[key] or f"{key}_table" not in metrics:
            raise ValueError(f"{metrics_file}: no {key} figures for {name}; {redo}")
    else:
        b = metrics.get("body")
        if not (isinstance(b, dict) and isinstance(b.get("labelled"), dict) and "n_images" in b["labelled"]
                and "labelled_table" in b and "unoccluded_table" in b):
            raise ValueError(f"{metrics_file}: no body figures for {name}; {redo}")


def _card(name: str, run: dict, metrics: dict, bench: str) -> str:
    t = run["training"]
    lines = [f"# {name}", "", f"**Architecture.** {ARCH[name]}", "",
             "**Data.** Synthetic in-cabin scenes (package `synth`): cameras d435 (848x480), kinect_v2 "
             "(512x424), autopose_ir (752x480); dashboard and mirror mounts with per-scene jitter; scenarios "
             "random, sweeps, gaze, activities, drive, vats. " + _training_scenes(t.get("train_sets")) + ", "
             "held-out test scenes seeds 10000-10059 (12 frames each): unseen subjects, mount jitter, seats, "
             "lighting and behaviour. No real data was used: figures are synthetic-to-synthetic.", "",
             f"**Training.** {t['steps']} steps, batch {t['batch']}, Adam lr {t['lr']} (cosine), weight decay "
             f"{t['weight_decay']}, seed {t['seed']}, {t['train_seconds']} s of wall clock on the shared 2-core "
             f"CPU, final loss {t['final_loss']:.4g}."
             + (f" Lineage: {t['lineage']}. Command of the last step: `{t.get('command')}`." if t.get("lineage")
                else f" This was a fine-tuning run (BN frozen, folded) starting from `{t['init']}`, an earlier "
                "run of the same recipe from scratch (train.all runs scratch + fine-tune as one longer run)."
                if t.get("init") else "")
             + (f" Dropout {t.get('dropout')} (paper 0.5: with 0.5 the net underfit in the CPU budget, train "
                f"error = test error), crop jitter centre sd {t.get('centre_sd')}, scale +-{t.get('scale_range')}."
                if t.get("init") and "centre_sd" in t else "")
             + (f" Crops drawn with pose-balanced weights (count of their 10-deg yaw/pitch bin ^ -{t['balance']}, "
                f"capped at {t['balance_max_ratio']:g}x the median crop's)." if t.get("balance") else ""), "",
             f"**Command.** `{COMMAND}`", "",
             f"**Evaluation.** {EVALUATION}.", "",
             f"**Export.** {run['export']['path']}: opset 17, parity max|onnx - torch| = "
             f"{run['export']['max_abs_diff']:.2e}" + (
                 f" against the torch network in float64 ({run['export']['max_abs_diff_vs_torch_fp32']:.2e} "
                 "against torch in float32)" if run["export"].get("max_abs_diff_vs_torch_fp32") is not None else "")
             + f"; fp16 variant {run['export'].get('fp16_path')}.", ""]
    if name.startswith("head"):
        modality = name.rsplit("_", 1)[1]
        m = metrics.get(f"head_{modality}")
        lines += [f"**Accuracy** (held-out synthetic test set, {m['n']} crops at the labelled head centre, "
                  "|yaw| <= 120; AutoPOSE Table 2 layout, degrees):", "", metrics[f"head_{modality}_table"], ""]
        if f"head_{modality}_flip_test_table" in metrics:
            lines += ["With test-time flip (the runtime's default, `PoseEstimator(head_flip_test=True)`: each crop "
                      "and its mirror image as one batch of two, angles averaged with yaw and roll negated):", "",
                      metrics[f"head_{modality}_flip_test_table"], ""]
        for key, how in ((f"end_to_end_{modality}", ""), (f"end_to_end_{modality}_flip_test", ", with test-time flip")):
            e2e = metrics.get(key)
            if e2e and e2e.get("metrics"):
                lines += [f"End to end{how} (crop placed from the lite body model's Head/Neck joints and depth, "
                          f"then a second crop at the refined head centre, monitor/estimator/head_locate.py): "
                          f"{e2e['frames']} frames, no head found in {e2e['no_head']}, median head-centre error "
                          f"{e2e['head_centre_error_px_median']:.1f} px:", "", e2e["table"], ""]
    else:
        b = metrics["body"]
        lines += [f"**Accuracy** (held-out synthetic test set, {b['labelled']['n_images']} frames, OKS with seed "
                  "001 sigmas, s^2 = area of the labelled-keypoint box). Every joint inside the image labelled, "
                  "occluded or not:", "", b["labelled_table"], "",
                  "Only unoccluded joints labelled (synth's visibility test):", "", b["unoccluded_table"], ""]
        if "labelled_flip_test_table" in b:
            lines += ["With test-time flip (`PoseEstimator(body_flip_test=True)`: the frame and its mirror image "
                      "as one batch of two, heatmaps averaged with sides swapped; every in-image joint "
                      "labelled):", "", b["labelled_flip_test_table"], ""]
    lines += ["**Speed** (`python -m exporters.bench`, ONNX Runtime CPU, this machine, shared with other jobs):",
              "", _speed_rows(bench, name), ""]
    return "\n".join(lines)


def write_cards(models: Path) -> list[Path]:
    """The cards of the models in ``models`` that have a training run file; every input is read
    and checked first (ValueError, one line), so bad input leaves the old cards in place."""
    models = Path(models)
    metrics_file = models / "metrics.json"
    metrics = _read_json(metrics_file, f"run `python -m train.evaluate --models {models} --test DATA/test "
                                       f"--out {metrics_file}` first")
    bench = (models / "bench.md").read_text() if (models / "bench.md").is_file() else "(not measured)"
    runs = {}
    for name in CARD_MODELS:
        run_file = models / f"{name}.metrics.json"
        if run_file.is_file():
            runs[name] = _read_json(run_file, "retrain the model to rewrite it")
            _check_inputs(name, runs[name], run_file, metrics, metrics_file)
    if not runs:
        raise ValueError(f"{models}: none of {', '.join(n + '.metrics.json' for n in CARD_MODELS)}; "
                         "the training commands write them")
    cards = {}
    for name, run in runs.items():
        try:
            cards[models / f"{name}.md"] = _card(name, run, metrics, bench)
        except (KeyError, TypeError, ValueError) as exc:  # a field of an odd type the checks above let through
            raise ValueError(f"{models / name}.metrics.json or {metrics_file}: unexpected content "
                             f"({type(exc).__name__}: {exc}); retrain or re-evaluate to rewrite them") from None
    for path, text in cards.items():
        path.write_text(text)
    return list(cards)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", default="models")
    args = ap.parse_args(argv)
    try:
        written = write_cards(Path(args.models))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    for p in written:
        print("wrote", p)


if __name__ == "__main__":
    main()
