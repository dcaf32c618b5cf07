"""Train, evaluate and export the eye locator (exporters/eye_net.EyeLocateNet) on
train.eye_locate_data sets.

    python -m train.eye_locate --train DATA/locate_train_a.npz DATA/locate_train_b.npz --test DATA/locate_test.npz --max-steps 8000 --out models

Loss: L2 on the offset / LOCATE_SCALE_MM, plus HIDDEN_LOSS_WEIGHT times the binary cross-entropy
of the eyes-hidden output (opaque eyewear, train.eye_locate_data). Augmentation: mirror (dx negated: the crop is cut in
the head frame), contrast 0.8-1.2, pixel noise 0.05. Test figures: the distance between the
located and the true eyes' midpoint in the crop plane (mm), against the guess's (the crop
centre's) distance, and per-axis MAE; for the hidden output, its accuracy at 0.5 and the mean
probability on crops with and without opaque eyewear; the runtime cuts the eye crop at the located midpoint
(monitor/estimator/eye_gaze.py), whose jitter in eye-model training is N(0, 6 mm) per axis.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from exporters.eye_net import LOCATE_ORDER, LOCATE_SCALE_MM, EyeLocateNet
from monitor.estimator.eye_crop import LOCATE_BOX_MM, LOCATE_HEIGHT, LOCATE_WIDTH
from train.eye_locate_data import CENTRE_CLIP_SD, CENTRE_SD_MM
from train.finetune import cosine_lr, take_step
from train.options import (BUDGET_HELP, LOCATE_SET, OUT_HELP, Budget, check_final_loss, check_numbers, check_out,
                           default_out, load_crop_set, out_folder, refuse_bad_input, seed_ranges_of,
                           seed_ranges_text, set_threads, write_model_files)

MODEL_NAME = "eye_locate_ir"
HIDDEN_LOSS_WEIGHT = 0.1


@dataclass(frozen=True)
class LocateMetrics:
    crops: int
    guess_error_median_mm: float     # crop centre to the true midpoint, in the crop plane
    located_error_median_mm: float   # located to true midpoint
    located_error_p90_mm: float
    located_within_6mm: float        # fraction within the eye model's training jitter
    mae_dx_mm: float
    mae_dy_mm: float
    hidden_accuracy: float | None = None      # P(hidden) >= 0.5 against the eyewear label
    hidden_p_mean_hidden: float | None = None  # mean P(hidden) on crops with opaque eyewear
    hidden_p_mean_visible: float | None = None


def locate_metrics(pred: np.ndarray, truth: np.ndarray, hidden: np.ndarray | None = None) -> LocateMetrics:
    """``pred``: (N, 2) offsets or (N, 3) with P(hidden); ``hidden``: the eyewear labels."""
    err = np.linalg.norm(pred[:, :2] - truth, axis=1)
    h: dict[str, float | None] = {}
    if hidden is not None and pred.shape[1] > 2:
        hid, p = np.asarray(hidden, bool), pred[:, 2]
        h = {"hidden_accuracy": float(np.mean((p >= 0.5) == hid)),
             "hidden_p_mean_hidden": float(p[hid].mean()) if hid.any() else None,
             "hidden_p_mean_visible": float(p[~hid].mean()) if (~hid).any() else None}
    return LocateMetrics(len(truth), float(np.median(np.linalg.norm(truth, axis=1))), float(np.median(err)),
                         float(np.percentile(err, 90)), float(np.mean(err <= 6.0)),
                         float(np.mean(np.abs(pred[:, 0] - truth[:, 0]))), float(np.mean(np.abs(pred[:, 1] - truth[:, 1]))),
                         **h)


def train_locator(x: np.ndarray, y: np.ndarray, hidden: np.ndarray, lr: float = 2e-3, batch: int = 64,
                  seed: int = 0, max_steps: int = 8000, hidden_weight: float = HIDDEN_LOSS_WEIGHT,
                  minutes: float | None = None, log=print) -> tuple[EyeLocateNet, dict]:
    """Stops at whichever comes first, ``max_steps`` steps or ``minutes`` (None: no wall-clock cap)."""
    if len(x) == 0:
        raise ValueError("no locator crops to train on")
    if max_steps < 1:
        raise ValueError(f"max_steps must be >= 1, got {max_steps}")
    if len(hidden) != len(x):
        raise ValueError(f"{len(hidden)} eyewear labels for {len(x)} crops")
    budget = Budget(minutes, max_steps)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = EyeLocateNet()
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=1e-4)
    xt, yt = torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y.astype(np.float32))
    ht = torch.from_numpy(np.asarray(hidden, np.float32))
    mirror = torch.tensor([-1.0, 1.0])
    t0, losses, step = budget.start(), [], 0
    net.train()
    while not budget.done(step):
        for g in opt.param_groups:
            g["lr"] = cosine_lr(lr, budget.progress(step))
        idx = torch.from_numpy(rng.integers(0, len(x), batch))
        xb, yb, hb = xt[idx][:, None], yt[idx], ht[idx]
        flip = torch.from_numpy(rng.uniform(size=batch) < 0.5)
        xb = torch.where(flip[:, None, None, None], xb.flip(-1), xb)
        yb = torch.where(flip[:, None], yb * mirror, yb)
        gain = torch.from_numpy(rng.uniform(0.8, 1.2, (batch, 1, 1, 1)).astype(np.float32))
        xb = xb * gain + 0.05 * torch.randn_like(xb)
        offset, logit = net.raw(xb)
        loss = (((offset - yb) / LOCATE_SCALE_MM) ** 2).sum(1).mean()
        loss = loss + hidden_weight * torch.nn.functional.binary_cross_entropy_with_logits(logit, hb)
        step = take_step(opt, loss, losses, step, t0, "eye_locate", log)
    net.eval()
    return net, {"steps": step, "stopped_by": budget.stopped_by(step), "batch": batch, "lr": lr, "seed": seed, "train_crops": len(x),
                 "hidden_weight": hidden_weight,
                 "final_loss": float(np.mean(losses[-500:])) if losses else None,
                 "train_seconds": round(time.monotonic() - t0, 1)}


def locate_contract(trained: bool, training_data: str, metrics: dict | None = None) -> dict:
    from exporters.export import INPUT_NAME
    from monitor.estimator.contract import CONTRACT_VERSION
    return {"version": CONTRACT_VERSION, "task": "eye_locate", "modality": "ir", "trained": trained,
            "architecture": "eye_locate_cnn",
            "input": {"name": INPUT_NAME, "layout": "NCHW", "channels": 1, "height": LOCATE_HEIGHT, "width": LOCATE_WIDTH},
            "normalisation": {"kind": "ir_standardised"},
            "crop": {"box_mm": list(LOCATE_BOX_MM), "max_offset_mm": [CENTRE_CLIP_SD * CENTRE_SD_MM[0], CENTRE_CLIP_SD * CENTRE_SD_MM[1]],
                     "plane": "head frame x/y axes through the guessed eyes' midpoint (monitor/estimator/eye_crop.py)"},
            "outputs": [{"name": "offset", "layout": "N3", "order": list(LOCATE_ORDER), "unit": "mm, probability",
                         "convention": "dx, dy: the eyes' midpoint minus the crop centre along the crop's x and y axes; "
                                       "hidden: probability that opaque eyewear hides the eyes"}],
            "training_data": training_data, "metrics": metrics or {}}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", nargs="+", required=True, help="npz sets from python -m train.eye_locate_data")
    ap.add_argument("--test", required=True, help="a held-out npz set from python -m train.eye_locate_data")
    ap.add_argument("--max-steps", type=int, default=8000, help=f"step budget (default 8000); {BUDGET_HELP}")
    ap.add_argument("--minutes", type=float, default=None, help="wall-clock cap (default: none, the steps alone)")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--out", default=None, help=OUT_HELP.format(kind="eye_locate"))
    args = ap.parse_args(argv)
    args.out = args.out or default_out("eye_locate")
    with refuse_bad_input():  # everything is checked and loaded before the training starts
        check_numbers(args)
        check_out(args.out)
        shape = (LOCATE_HEIGHT, LOCATE_WIDTH)
        sets = [load_crop_set(p, "--train", LOCATE_SET, ("x", "y", "hidden", "seed"), shape, "train.eye_locate")
                for p in args.train]
        test = load_crop_set(args.test, "--test", LOCATE_SET, ("x", "y", "hidden"), shape, "train.eye_locate")
        set_threads(args.threads)
    x = np.concatenate([s["x"] for s in sets])
    y = np.concatenate([s["y"] for s in sets])
    hidden = np.concatenate([s["hidden"] for s in sets])
    for st in sets:  # the concatenation holds the crops now
        del st["x"]
    with out_folder(args.out) as out:
        net, info = train_locator(x, y, hidden, args.lr, args.batch, args.seed, args.max_steps, minutes=args.minutes)
        check_final_loss(info)
        with torch.no_grad():
            pred = np.concatenate([net(torch.from_numpy(test["x"][i:i + 1024, None].astype(np.float32))).numpy()
                                   for i in range(0, len(test["x"]), 1024)])
        metrics = asdict(locate_metrics(pred, test["y"], test["hidden"]))
        print(json.dumps(metrics, indent=1))
        desc = f"synthetic IR locator crops ({len(x)} training crops from {', '.join(args.train)}); test {args.test}"
        seeds = seed_ranges_of(sets)
        write_model_files(net, out, MODEL_NAME, locate_contract(True, desc, metrics), {"train": info, "test": metrics},
                          lambda path, line: write_card(path, info, metrics, args, line, seeds))


def write_card(path: Path, info: dict, m: dict, args: argparse.Namespace, export_line: str,
               seed_ranges: list[tuple[int, int]]) -> Path:
    """The model card: data, command and the figures this run measured (docs/models.md, Eye gaze)."""
    from train.eye_locate_data import ROTATION_JITTER_DEG
    scenes = seed_ranges_text(seed_ranges)
    cap = f" --minutes {args.minutes:g}" if args.minutes else ""
    cmd = (f"python -m train.eye_locate --train {' '.join(args.train)} --test {args.test} --max-steps {args.max_steps}{cap} "
           f"--lr {args.lr:g} --batch {args.batch} --seed {args.seed} --threads {args.threads} --out {args.out}")
    sd = " / ".join(f"{v:g}" for v in CENTRE_SD_MM)
    text = f"""# {MODEL_NAME}

**Job.** Finds the eyes' midpoint for the eye-gaze model's crop (monitor/estimator/eye_gaze.py). The runtime's
first guess (the estimated head centre plus the eye model's offset) sits up to 23 mm above or below the eyes on
unseen drivers; this model reads the offset from a wider crop and the eye crop is cut where it says. It also
says whether the eyes can be seen at all.

**Architecture.** exporters/eye_net.py `EyeLocateNet`: conv 16-32-64-64 (3x3, batch norm, ReLU, 2x2 pooling
after the first three), FC 3072 -> 64 -> 3, dropout 0.1. Input: a {LOCATE_HEIGHT}x{LOCATE_WIDTH} IR crop, {LOCATE_BOX_MM[0]:g} x {LOCATE_BOX_MM[1]:g} mm on
the plane of the head frame's x/y axes through the guess (monitor/estimator/eye_crop.py), standardised.
Output: the eyes' midpoint minus the crop centre along the crop's x and y axes, mm, and the probability that
opaque eyewear hides the eyes (the classifier then falls back to the head-only gaze).

**Data.** Synthetic in-cabin scenes as the eye model's (`python -m train.eye_locate_data`, scenes {scenes},
4 frames each; test: `--scenes 60 --frames-per-scene 8 --seed-base 10000`, unseen drivers). {info['train_crops']}
training crops, three per frame, each with the head frame turned by N(0, {ROTATION_JITTER_DEG:g} deg) per axis and the centre
moved from the true midpoint by N(0, {sd} mm) along the head's x / y / z (clipped at {CENTRE_CLIP_SD:g} sd). No
real data: figures are synthetic-to-synthetic.

**Training.** {info['steps']} steps, batch {info['batch']}, Adam lr {info['lr']:g} (cosine), weight decay 1e-4,
seed {info['seed']}, {info['train_seconds']:.0f} s of wall clock on the shared 2-core CPU, final loss {info['final_loss']:.4f}.
Mirror augmentation (dx negated), contrast 0.8-1.2, pixel noise 0.05. Command: `{cmd}`.

**Export.** {export_line}

**Accuracy** ({m['crops']} test crops, one pass without the runtime's test-time flip; distance in the crop plane, mm):

| | median | p90 | within 6 mm | MAE dx | MAE dy |
|---|---|---|---|---|---|
| guess (crop centre) | {m['guess_error_median_mm']:.1f} | | | | |
| located | {m['located_error_median_mm']:.2f} | {m['located_error_p90_mm']:.2f} | {m['located_within_6mm']:.3f} | {m['mae_dx_mm']:.2f} | {m['mae_dy_mm']:.2f} |

Eyes hidden (opaque eyewear, the synthetic sunglasses; loss weight {info['hidden_weight']:g}): accuracy at 0.5
{_fmt(m.get('hidden_accuracy'))}; mean probability {_fmt(m.get('hidden_p_mean_hidden'))} on crops with sunglasses,
{_fmt(m.get('hidden_p_mean_visible'))} without.

Through the pipeline (zones on held-out drives): docs/gaze_state.md.
"""
    path.write_text(text)
    return path


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


if __name__ == "__main__":
    main()
