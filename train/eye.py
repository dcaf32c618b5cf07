"""Train, evaluate and export the eye-gaze CNN (exporters/eye_net.py) on train.eye_data sets.

    python -m train.eye --train DATA/eyes_train.npz --test DATA/eyes_test.npz --minutes 20 --out models

Loss: L2 on the eye-in-head angles / ANGLE_SCALE, plus the spread output's Gaussian likelihood of
those (detached) errors (`spread_nll`). Augmentation: mirror (a negated: the crop is cut
in the head frame, so its mirror image is the mirrored gaze), a little pixel noise and contrast.
The test figures are the angular error of the gaze direction (degrees) and the MAE of a and b, on
the unjittered crops and on the jittered ones (as the runtime's estimated head pose cuts them),
and how well the spread ranks the errors.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from exporters.eye_net import ANGLE_SCALE, OUTPUT_ORDER, EyeGazeNet
from monitor.estimator.eye_crop import BOX_MM, CROP_HEIGHT, CROP_WIDTH
from train.finetune import cosine_lr, take_step
from train.options import (BUDGET_HELP, EYE_SET, OUT_HELP, Budget, InputError, at_least_zero, check_final_loss,
                           check_numbers, check_out, default_out, load_crop_set, out_folder, refuse_bad_input,
                           seed_ranges_of, seed_ranges_text, set_threads, resolve_minutes, write_model_files)

DEFAULT_LOCATOR = "eye_locate_ir.onnx"  # train.eye_locate's model


@dataclass(frozen=True)
class EyeGazeMetrics:
    crops: int
    angular_error_median_deg: float
    angular_error_mean_deg: float
    angular_error_p90_deg: float
    mae_a_deg: float
    mae_b_deg: float


def angular_errors(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Angles (deg) between the directions of (N, 2) eye-in-head (a, b) pairs."""
    def unit(ab: np.ndarray) -> np.ndarray:
        a, b = np.radians(ab[:, 0]), np.radians(ab[:, 1])
        return np.stack([np.cos(b) * np.sin(a), np.sin(b), -np.cos(b) * np.cos(a)], 1)
    cos = np.clip(np.sum(unit(pred) * unit(truth), 1), -1.0, 1.0)
    return np.degrees(np.arccos(cos))


def eye_metrics(pred: np.ndarray, truth: np.ndarray) -> EyeGazeMetrics:
    err = angular_errors(pred, truth)
    mae = np.mean(np.abs(pred - truth), axis=0)
    return EyeGazeMetrics(len(err), float(np.median(err)), float(err.mean()), float(np.percentile(err, 90)),
                          float(mae[0]), float(mae[1]))


def balance_weights(y: np.ndarray, power: float, bin_deg: float = 5.0, max_ratio: float = 10.0) -> np.ndarray | None:
    """Sampling probabilities count(bin_deg (a, b) bin) ** -power, capped at max_ratio x the median
    crop's. Most frames look straight ahead in the head (|a| < 1 deg for half of them) and the model
    reads large eye turns short (slope 0.77 / 0.64 on a / b); with power 0.7 the slope stayed and
    the small angles got worse, so the default is off: the shortfall is new faces, not rare bins."""
    if power <= 0:
        return None
    keys = np.floor(np.asarray(y) / bin_deg).astype(np.int64)
    _, inverse, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    w = counts[inverse.ravel()].astype(np.float64) ** -power
    w = np.minimum(w, max_ratio * np.median(w))
    return w / w.sum()


def spread_nll(sq_error: torch.Tensor, spread: torch.Tensor) -> torch.Tensor:
    """Negative log-likelihood of a 2-D isotropic Gaussian with per-axis sd ``spread`` for squared
    errors ``sq_error`` (both in ANGLE_SCALE units); its minimum is spread**2 = E[sq_error] / 2, the
    per-axis mean squared error. The errors come detached: the spread learns them, it does not move
    the angles."""
    return (sq_error / (2.0 * spread ** 2) + 2.0 * torch.log(spread)).mean()


def train_eye(x: np.ndarray, y: np.ndarray, minutes: float | None, lr: float = 2e-3, batch: int = 64,
              seed: int = 0, max_steps: int | None = None, balance: float = 0.0,
              log=print) -> tuple[EyeGazeNet, dict]:
    """Stops at whichever comes first, ``max_steps`` steps or ``minutes`` (train.options.Budget)."""
    if len(x) == 0:
        raise ValueError("no eye crops to train on")
    budget = Budget(minutes, max_steps)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    sample_p = balance_weights(y, balance)
    net = EyeGazeNet()
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=1e-4)
    xt, yt = torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y.astype(np.float32))
    mirror = torch.tensor([-1.0, 1.0])
    t0, step, losses = budget.start(), 0, []
    net.train()
    while not budget.done(step):
        for g in opt.param_groups:
            g["lr"] = cosine_lr(lr, budget.progress(step))
        idx = torch.from_numpy(rng.choice(len(x), batch, p=sample_p) if sample_p is not None
                               else rng.integers(0, len(x), batch))
        xb, yb = xt[idx][:, None], yt[idx]
        flip = torch.from_numpy(rng.uniform(size=batch) < 0.5)
        xb = torch.where(flip[:, None, None, None], xb.flip(-1), xb)
        yb = torch.where(flip[:, None], yb * mirror, yb)
        gain = torch.from_numpy(rng.uniform(0.8, 1.2, (batch, 1, 1, 1)).astype(np.float32))
        xb = xb * gain + 0.05 * torch.randn_like(xb)
        out = net(xb)
        sq = (((out[:, :2] - yb) / ANGLE_SCALE) ** 2).sum(1)
        loss = sq.mean()
        if out.shape[1] > 2:
            loss = loss + spread_nll(sq.detach(), out[:, 2] / ANGLE_SCALE)
        step = take_step(opt, loss, losses, step, t0, "eye", log)
    net.eval()
    return net, {"steps": step, "stopped_by": budget.stopped_by(step), "batch": batch, "lr": lr, "seed": seed, "train_crops": len(x), "balance": balance,
                 "final_loss": float(np.mean(losses[-500:])) if losses else None,
                 "train_seconds": round(time.monotonic() - t0, 1)}


def predict(run, x: np.ndarray, chunk: int = 1024) -> np.ndarray:
    return np.concatenate([run(x[i:i + chunk, None].astype(np.float32)) for i in range(0, len(x), chunk)])


def evaluate_sets(run, data) -> dict:
    """Metrics on the unjittered crops (the first of each frame) and the jittered ones."""
    x, y, first = data["x"], data["y"], _first_of_frame(data)
    out = predict(run, x)
    pred = out[:, :2]
    metrics = {"unjittered": asdict(eye_metrics(pred[first], y[first])),
               "jittered": asdict(eye_metrics(pred[~first], y[~first])) if (~first).any() else None}
    if out.shape[1] > 2:
        metrics["spread"] = asdict(spread_metrics(out[first, 2], angular_errors(pred[first], y[first])))
    return metrics


@dataclass(frozen=True)
class SpreadMetrics:
    """How well the predicted spread ranks the errors (unjittered test crops)."""

    spread_median_deg: float
    rank_correlation: float            # Spearman, spread vs angular error
    error_median_low_spread_deg: float  # median angular error of the 80% crops with the lowest spread
    error_median_high_spread_deg: float  # ... of the 20% with the highest


def spread_metrics(spread: np.ndarray, err: np.ndarray) -> SpreadMetrics:
    def ranks(v: np.ndarray) -> np.ndarray:
        return np.argsort(np.argsort(v)).astype(np.float64)
    rs, re_ = ranks(spread), ranks(err)
    rho = float(np.corrcoef(rs, re_)[0, 1]) if len(err) > 1 else float("nan")
    high = spread >= np.percentile(spread, 80)
    return SpreadMetrics(float(np.median(spread)), rho, float(np.median(err[~high])) if (~high).any() else float("nan"),
                         float(np.median(err[high])))


def _first_of_frame(data) -> np.ndarray:
    if "first" in data:
        return np.asarray(data["first"], bool)
    raise ValueError("eye set without the 'first' mask: regenerate it with python -m train.eye_data")


def label_frame_of(data) -> str:
    """The label frame a train.eye_data set was made with; sets from before the option are "crop"."""
    return str(data["label_frame"]) if "label_frame" in data else "crop"


def eye_contract(trained: bool, training_data: str, eye_offset_mm, metrics: dict | None = None,
                 order: tuple[str, ...] = OUTPUT_ORDER, locator: str = "") -> dict:
    """``order``: the net's outputs, ("a", "b") or ("a", "b", "spread") (EyeGazeNet.output_order).
    ``locator``: the eye locator's file name (next to the model) whose finding the runtime centres
    the crops on; "" for none (crops at the head centre's guess)."""
    from exporters.export import INPUT_NAME
    from monitor.estimator.contract import CONTRACT_VERSION
    return {"version": CONTRACT_VERSION, "task": "eye_gaze", "modality": "ir", "trained": trained,
            "architecture": "eye_gaze_cnn",
            "input": {"name": INPUT_NAME, "layout": "NCHW", "channels": 1, "height": CROP_HEIGHT, "width": CROP_WIDTH},
            "normalisation": {"kind": "ir_standardised"},
            "crop": {"box_mm": list(BOX_MM), "eye_offset_mm": [float(v) for v in eye_offset_mm],
                     "plane": "head frame x/y axes through the eyes' midpoint (monitor/estimator/eye_crop.py)",
                     **({"locator": locator} if locator else {})},
            "outputs": [{"name": "angles", "layout": f"N{len(order)}", "order": list(order), "unit": "deg",
                         "convention": "eye-in-head gaze, monitor/estimator/eye_crop.eye_angles; spread: the "
                                       "model's expected per-axis error of a and b"}],
            "training_data": training_data, "metrics": metrics or {}}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", nargs="+", required=True, help="npz sets from python -m train.eye_data")
    ap.add_argument("--test", required=True, help="a held-out npz set from python -m train.eye_data")
    ap.add_argument("--minutes", type=float, default=None,
                    help=f"wall-clock budget (default 20 when --max-steps is not given, else none); {BUDGET_HELP}")
    ap.add_argument("--max-steps", type=int, default=None, help="step budget (default: none, --minutes alone)")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--balance", type=float, default=0.0,
                    help="draw crops with weight count(5-deg gaze bin) ** -BALANCE (default 0: uniform; 0.7 "
                         "was tried and read the test set worse: docs/models.md)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--locator", default=DEFAULT_LOCATOR,
                    help=f"eye locator file (next to the exported model) that centres the crops at run time "
                         f"(default {DEFAULT_LOCATOR}, python -m train.eye_locate; '' for none: crops at the head "
                         "centre's guess)")
    ap.add_argument("--out", default=None, help=OUT_HELP.format(kind="eye"))
    args = ap.parse_args(argv)
    args.minutes = resolve_minutes(args.minutes, args.max_steps, 20.0)
    args.out = args.out or default_out("eye")
    with refuse_bad_input():  # everything is checked and loaded before the training starts
        check_numbers(args)
        at_least_zero(args.balance, "--balance")
        check_out(args.out)
        shape = (CROP_HEIGHT, CROP_WIDTH)
        sets = [load_crop_set(p, "--train", EYE_SET, ("x", "y", "eye_offset_mm", "seed"), shape, "train.eye")
                for p in args.train]
        test = load_crop_set(args.test, "--test", EYE_SET, ("x", "y", "first"), shape, "train.eye")
        frames = {label_frame_of(st) for st in sets}
        if len(frames) > 1:
            raise InputError(f"the training sets mix label frames {sorted(frames)}: regenerate them with one --labels")
        test_frame = label_frame_of(test)
        if frames != {test_frame}:
            raise InputError(f"the test set's labels are in the {test_frame!r} frame, the training sets' in "
                             f"{sorted(frames)[0]!r}: the jittered figures would compare different labels")
        set_threads(args.threads)
    x = np.concatenate([s["x"] for s in sets])
    y = np.concatenate([s["y"] for s in sets])
    offset = np.median(np.stack([s["eye_offset_mm"] for s in sets]), axis=0)
    for st in sets:  # the concatenation holds the crops now
        del st["x"]
    with out_folder(args.out) as out:
        net, info = train_eye(x, y, args.minutes, args.lr, args.batch, args.seed, args.max_steps, args.balance)
        check_final_loss(info)
        info["label_frame"] = frames.pop()

        def run(b: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return net(torch.from_numpy(b)).numpy()

        metrics = evaluate_sets(run, test)
        print(json.dumps(metrics, indent=1))
        desc = (f"synthetic IR eye crops ({len(x)} training crops from {', '.join(args.train)}); test {args.test}")
        seeds = seed_ranges_of(sets)
        write_model_files(net, out, "eye_gaze_ir",
                          eye_contract(True, desc, offset, metrics, net.output_order, args.locator),
                          {"train": info, "test": metrics, "eye_offset_mm": offset.tolist()},
                          lambda path, line: write_card(path, info, metrics, args, line, seeds))
    if args.locator and not (out / args.locator).is_file():
        # the contract names the locator; the runtime refuses the model until it sits beside it
        print(f"note: the contract names the locator {args.locator}, which is not in {out}: put it there "
              "(python -m train.eye_locate --out the same folder, or copy models/eye_locate_ir.onnx) "
              "before running this model, or retrain with --locator ''")


def write_card(path: Path, info: dict, metrics: dict, args: argparse.Namespace, export_line: str,
               seed_ranges: list[tuple[int, int]]) -> Path:
    """The model card: data, command and the figures this run measured (docs/models.md, Eye gaze)."""
    def row(name: str, m: dict | None) -> str:
        if m is None:
            return f"| {name} | - | - | - | - | - | - |"
        return (f"| {name} | {m['crops']} | {m['angular_error_median_deg']:.2f} | {m['angular_error_mean_deg']:.2f} | "
                f"{m['angular_error_p90_deg']:.2f} | {m['mae_a_deg']:.2f} | {m['mae_b_deg']:.2f} |")
    sampling = (f"crops drawn with weight count(5-deg gaze bin)^-{info['balance']:g} (capped at 10x the median "
                "crop's)" if info["balance"] > 0 else "crops drawn uniformly")
    scenes = seed_ranges_text(seed_ranges)
    steps = f" --max-steps {args.max_steps}" if args.max_steps else ""
    cap = f" --minutes {args.minutes:g}" if args.minutes is not None else ""
    cmd = (f"python -m train.eye --train {' '.join(args.train)} --test {args.test}{cap}{steps} "
           f"--lr {args.lr:g} --batch {args.batch} --balance {args.balance:g} --seed {args.seed} --threads {args.threads} --out {args.out}")
    text = f"""# eye_gaze_ir

**Architecture.** exporters/eye_net.py: conv 16-32-64-64 (3x3, batch norm, ReLU, 2x2 pooling after the first
three), FC 2048 -> 128 -> 2 (angles), dropout 0.2, and 128 -> 32 -> 1 on the detached features (spread). Input: a 32x64 IR crop of both eyes cut on the plane of the head
frame's x/y axes through the eyes' midpoint, 48 x 96 mm (monitor/estimator/eye_crop.py), standardised. Output:
the eye-in-head gaze (a, b) in degrees and the model's expected per-axis error of them (spread); the runtime
turns the gaze by the estimated head rotation into the camera frame.

**Data.** Synthetic in-cabin scenes (`python -m train.eye_data`, package `synth`: eyeballs with pupil, iris
and corneal glint that follow the scripted gaze): cameras d435, kinect_v2, autopose_ir; dashboard and mirror
mounts; all scenarios; scenes {scenes}, 4 frames each (`python -m train.eye_data --out DATA/eyes_train.npz
--scenes 1200 --frames-per-scene 4` with `--seed-base` 0 and 1200; test: `--scenes 60 --frames-per-scene 8
--seed-base 10000 --crops 2`). {info['train_crops']} training crops: per frame one at the true head frame and three
with the frame turned by N(0, 4 deg) per axis and moved by N(0, 6 mm) as the runtime's estimated head pose
cuts them; {label_text(info.get('label_frame', 'crop'))} No real data: figures are
synthetic-to-synthetic.

**Training.** {info['steps']} steps, batch {info['batch']}, Adam lr {info['lr']:g} (cosine), weight decay 1e-4,
{sampling}, seed {info['seed']}, {info['train_seconds']:.0f} s of wall clock on the shared 2-core CPU, final loss
{info['final_loss']:.4f}. Mirror augmentation (a negated), contrast 0.8-1.2, pixel noise 0.05.
Command: `{cmd}`.

**Export.** {export_line}

**Accuracy** (held-out test scenes, seeds 10000-10059: unseen drivers; angle between predicted and true
gaze direction, degrees; "jittered": crops cut in a turned frame as above):

| crops | n | median | mean | p90 | MAE a | MAE b |
|---|---|---|---|---|---|---|
{row('true head frame', metrics['unjittered'])}
{row('jittered head frame', metrics['jittered'])}

{spread_text(metrics.get('spread'))}
Through the pipeline (zones on held-out drives): docs/gaze_state.md.
"""
    path.write_text(text)
    return path


def label_text(frame: str) -> str:
    if frame == "true-head":
        return "every crop labelled with the eye-in-head gaze relative to the true head (`--labels true-head`)."
    return "each labelled with the gaze relative to the frame it was cut in."


def spread_text(m: dict | None) -> str:
    if m is None:
        return "**Spread.** This model has no spread output.\n"
    return (f"**Spread** (the model's expected per-axis error, true-head-frame test crops): median "
            f"{m['spread_median_deg']:.2f} deg; rank correlation with the angular error "
            f"{m['rank_correlation']:.2f}; median error {m['error_median_low_spread_deg']:.2f} deg on the 80% "
            f"of crops with the lowest spread, {m['error_median_high_spread_deg']:.2f} deg on the other 20%.\n")


if __name__ == "__main__":
    main()
