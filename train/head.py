"""Train, evaluate and export the POSEidon head-pose CNN (AutoPOSE sec. 5.2) for IR or depth.

Crops come from the runtime's own crop code (monitor.estimator.head_crop) at the labelled head
centre and distance, as AutoPOSE does ("we obtained the head center from the ground truth"); for
training they are jittered (centre sd 8 % of the box, distance +-10 %) so the model tolerates the
runtime's head localisation from body joints. Horizontal flips negate yaw and roll. Weighted L2
0.45/0.35/0.2 (yaw/pitch/roll), Adam, batch 64 (the paper: 128; more, smaller steps fit the CPU budget). Frames with |yaw| > 120 deg are
kept for training but not for testing (AutoPOSE sec. 5); crops with more than a third of the head
off-image are discarded everywhere.
"""
from __future__ import annotations

import argparse
import json
import time
from typing import Iterable

import numpy as np
import torch

from exporters.poseidon import PoseidonNet, weighted_l2_loss
from monitor.estimator.head_crop import head_input
from monitor.metrics import HeadPoseMetrics, head_pose_metrics
from train.finetune import (batch_norms_to_identity, copy_conv_weights, cosine_lr, freeze_batch_norm,
                            read_onnx_weights)
from train.occlusion import occlude_batch
from train.options import (BUDGET_HELP, OUT_HELP, Budget, InputError, at_least_zero, check_final_loss,
                           check_init, check_numbers, check_out, default_out, fraction, open_records,
                           out_folder, refuse_bad_input, set_threads, resolve_minutes)
from train.rotation import rotate_batch
from train.records import FrameRecord

CROP = 64
BALANCE_MAX_RATIO = 3.0
TEST_MAX_ABS_YAW = 120.0
MAX_ROTATION_DEG = 15.0


def make_crops(records: Iterable[FrameRecord], modality: str, normalisation: dict, jitter: int = 0,
               rng: np.random.Generator | None = None, max_abs_yaw: float | None = None,
               centre_sd: float = 0.08, scale_range: float = 0.1, rays: list | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
    """(N, 1, 64, 64) float32 crops and (N, 3) yaw/pitch/roll; jitter = extra jittered crops per frame.
    A list passed as ``rays`` receives each crop's unit viewing ray through its centre pixel
    (camera frame), for the rotation augmentation."""
    xs, ys = [], []
    for r in records:
        img = r.image(modality)
        if img is None or r.head_ypr is None or r.head_center_px is None or not r.head_distance_mm:
            continue
        if max_abs_yaw is not None and abs(r.head_ypr[0]) > max_abs_yaw:
            continue
        k = r.intrinsics
        variants = [(0.0, 0.0, 1.0)]
        if jitter and rng is not None:
            box_w = k.fx * 320.0 / r.head_distance_mm
            variants = [(rng.normal(0, centre_sd) * box_w, rng.normal(0, centre_sd) * box_w,
                         rng.uniform(1 - scale_range, 1 + scale_range))
                        for _ in range(jitter)]
        for dx, dy, ds in variants:
            c = (float(r.head_center_px[0] + dx), float(r.head_center_px[1] + dy))
            made = head_input(img, c, r.head_distance_mm * ds, k.fx, k.fy, normalisation, CROP,
                              depth_unit_mm=r.depth_unit_mm)
            if made is None:
                continue
            xs.append(made[0][None])
            ys.append(np.asarray(r.head_ypr, dtype=np.float32))
            if rays is not None:
                ray = np.array([(c[0] - k.cx) / k.fx, (c[1] - k.cy) / k.fy, 1.0])
                rays.append(ray / np.linalg.norm(ray))
    if not xs:
        return np.zeros((0, 1, CROP, CROP), np.float32), np.zeros((0, 3), np.float32)
    return np.stack(xs).astype(np.float32), np.stack(ys)


def pose_balance_weights(ypr: np.ndarray, power: float, bin_deg: float = 10.0,
                         max_ratio: float | None = BALANCE_MAX_RATIO) -> np.ndarray | None:
    """Sampling probabilities that flatten the yaw/pitch distribution: each crop is drawn with
    weight count(its bin)^-power over bin_deg x bin_deg yaw/pitch bins (power 0: uniform, 1: every
    occupied bin equally often), capped at ``max_ratio`` x the median crop's weight. Synthetic
    drivers look mostly ahead and to the left mirror, so large angles (the media centre, the right
    mirror) are rare and a plain L2 fit shrinks them; the cap keeps the rarest bins (the head
    sweeps' extreme yaws and pitches) from taking over: uncapped, power 0.5 gave them 20 % of
    the draws (6 % of the data), capped at 3 they get 9 % while yaw 15-50 deg still goes 8 -> 13 %."""
    if power <= 0 or len(ypr) == 0:
        return None
    bins = np.floor(np.asarray(ypr)[:, :2] / bin_deg).astype(np.int64)
    _, inverse, counts = np.unique(bins, axis=0, return_inverse=True, return_counts=True)
    w = counts[inverse.reshape(-1)].astype(np.float64) ** -power
    if max_ratio is not None:
        w = np.minimum(w / np.median(w), max_ratio)
    return w / w.sum()


def train_head(x: np.ndarray, y: np.ndarray, minutes: float | None, seed: int = 0, batch: int = 64, lr: float = 1e-3,
               weight_decay: float = 1e-4, max_steps: int | None = None, dropout: float = 0.5,
               init: str | None = None, balance: float = 0.0, occlusion: float = 0.0,
               rays: np.ndarray | None = None, rotation: float = 0.0,
               max_rotation_deg: float = MAX_ROTATION_DEG, log=print) -> tuple[PoseidonNet, dict]:
    """Stops at whichever comes first, ``max_steps`` steps or ``minutes`` (train.options.Budget)."""
    if len(x) == 0:
        raise ValueError("no head crops to train on: check that the records carry head labels and images")
    if rotation > 0 and (rays is None or len(rays) != len(x)):
        raise ValueError("the rotation augmentation needs each crop's viewing ray (make_crops(rays=[]))")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    sample_p = pose_balance_weights(y, balance)
    budget = Budget(minutes, max_steps)
    net = load_init(PoseidonNet(dropout=dropout), init)
    net = net.to(memory_format=torch.channels_last)  # ~30 % faster convs on CPU
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    flip_sign = torch.tensor([-1.0, 1.0, -1.0])
    t0, step, losses = budget.start(), 0, []
    net.train()
    if init and init.endswith(".onnx"):
        freeze_batch_norm(net)  # its statistics were folded into the convolutions
    while not budget.done(step):
        # cosine decay over the budget nearer its end (wall clock: speed varies on a shared CPU)
        for g in opt.param_groups:
            g["lr"] = cosine_lr(lr, budget.progress(step))
        idx = torch.from_numpy(rng.choice(len(x), batch, p=sample_p) if sample_p is not None
                               else rng.integers(0, len(x), batch))
        xb, yb = xt[idx], yt[idx]
        if rotation > 0:  # the camera turned about the ray to the head: crop and label turn with it
            xr, yr = rotate_batch(xb.numpy(), yb.numpy(), rays[idx.numpy()], rng, rotation, max_rotation_deg)
            xb, yb = torch.from_numpy(xr), torch.from_numpy(yr)
        if occlusion > 0:  # depth crops only (main checks): hands pasted in front of the face
            xb = torch.from_numpy(occlude_batch(xb.numpy(), rng, occlusion))
        flip = torch.from_numpy(rng.uniform(size=batch) < 0.5)
        xb = torch.where(flip[:, None, None, None], xb.flip(-1), xb)
        yb = torch.where(flip[:, None], yb * flip_sign, yb)
        loss = weighted_l2_loss(net(xb.contiguous(memory_format=torch.channels_last)), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        step += 1
        if step % 200 == 0:
            log(f"[head] step {step} loss {np.mean(losses[-200:]):.4f} "
                f"{(time.monotonic() - t0) / step * 1000:.0f} ms/step")
    net = net.to(memory_format=torch.contiguous_format).eval()
    return net, {"steps": step, "stopped_by": budget.stopped_by(step), "batch": batch, "lr": lr,
                 "weight_decay": weight_decay, "dropout": dropout,
                 "final_loss": float(np.mean(losses[-200:])) if losses else None,
                 "train_seconds": round(time.monotonic() - t0, 1), "train_crops": len(x), "seed": seed,
                 "balance": balance, "balance_max_ratio": BALANCE_MAX_RATIO if balance > 0 else None,
                 "occlusion": occlusion, "rotation": rotation,
                 "max_rotation_deg": max_rotation_deg if rotation > 0 else None}


def evaluate(run, x: np.ndarray, y: np.ndarray, chunk: int = 512) -> HeadPoseMetrics:
    preds = [run(x[i:i + chunk]) for i in range(0, len(x), chunk)]
    return head_pose_metrics(y, np.concatenate(preds))


def torch_runner(net: PoseidonNet):
    def run(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return net(torch.from_numpy(x)).numpy()
    return run


def main(argv: list[str] | None = None) -> None:
    from exporters.export import HEAD_NORMALISATION, export_model, head_contract

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", nargs="+", required=True, help="train.data pack files or folders")
    ap.add_argument("--test", nargs="+", required=True, help="held-out train.data pack files or folders")
    ap.add_argument("--modality", choices=("ir", "depth"), required=True)
    ap.add_argument("--minutes", type=float, default=None,
                    help=f"wall-clock budget (default 10 when --max-steps is not given, else none); {BUDGET_HELP}")
    ap.add_argument("--max-steps", type=int, default=None, help="step budget (default: none, --minutes alone)")
    ap.add_argument("--jitter", type=int, default=3, help="jittered crops per training frame")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--init", default=None,
                    help="start from these weights instead of scratch: a .pt state dict, or a shipped .onnx "
                         "(its batch norms are folded in, so they stay frozen while fine-tuning)")
    ap.add_argument("--dropout", type=float, default=0.5, help="on the two hidden FC layers (paper: 0.5)")
    ap.add_argument("--centre-sd", type=float, default=0.08, help="crop-centre jitter, fraction of the box")
    ap.add_argument("--scale-range", type=float, default=0.1, help="head-distance jitter, +- fraction")
    ap.add_argument("--balance", type=float, default=0.0,
                    help="flatten the yaw/pitch distribution: draw crops with weight count(10-deg bin)^-B "
                         f"(0 = uniform, 1 = every pose bin equally often), capped at {BALANCE_MAX_RATIO:g}x "
                         "the median crop's weight")
    ap.add_argument("--occlusion", type=float, default=0.0,
                    help="depth only: paste a synthetic hand and forearm in front of the face into this "
                         "fraction of the training crops (train/occlusion.py)")
    ap.add_argument("--rotation", type=float, default=0.0,
                    help="depth only: turn this fraction of the training crops in the image plane (the camera "
                         "rolled about the ray to the head; labels recomputed, train/rotation.py)")
    ap.add_argument("--max-rotation", type=float, default=MAX_ROTATION_DEG,
                    help="largest in-plane rotation, degrees either way")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help=OUT_HELP.format(kind="head-<modality>"))
    ap.add_argument("--threads", type=int, default=2, help="torch threads (0: torch's default)")
    args = ap.parse_args(argv)
    args.minutes = resolve_minutes(args.minutes, args.max_steps, 10.0)
    if (args.occlusion or args.rotation) and args.modality != "depth":
        ap.error("--occlusion and --rotation work on normalised depth crops; they have no IR counterpart yet")
    args.out = args.out or default_out(f"head-{args.modality}")
    norm = HEAD_NORMALISATION[args.modality]
    rays: list = []
    with refuse_bad_input():  # everything is checked and loaded before the training starts
        check_numbers(args)
        rng = np.random.default_rng(args.seed)
        for name in ("occlusion", "rotation"):
            fraction(getattr(args, name), f"--{name}")
        if args.jitter < 0:
            raise InputError(f"--jitter must be 0 or more, got {args.jitter}")
        fraction(args.dropout, "--dropout", upper_open=True)
        fraction(args.scale_range, "--scale-range", upper_open=True)  # distances scale by 1 +- it
        for name in ("centre_sd", "balance", "max_rotation"):
            at_least_zero(getattr(args, name), "--" + name.replace("_", "-"))
        check_out(args.out)
        check_init(lambda p: load_init(PoseidonNet(), p), args.init,
                   "a POSEidon head model (.onnx export or .pt state dict)")
        set_threads(args.threads)
        x, y = make_crops(open_records(args.train, "--train", "train.head"), args.modality, norm, args.jitter, rng,
                          centre_sd=args.centre_sd, scale_range=args.scale_range, rays=rays)
        xt, yt = make_crops(open_records(args.test, "--test", "train.head"), args.modality, norm,
                            max_abs_yaw=TEST_MAX_ABS_YAW)
        for option, n in (("--train", len(x)), ("--test", len(xt))):
            if n == 0:
                raise InputError(f"{option}: no usable head crops (frames need head labels, a {args.modality} "
                                 "image and the head mostly inside it)")
    print(f"[head {args.modality}] {len(x)} training crops, {len(xt)} test crops")
    with out_folder(args.out) as out:
        net, info = train_head(x, y, args.minutes, args.seed, args.batch, args.lr, max_steps=args.max_steps,
                               dropout=args.dropout, init=args.init, balance=args.balance,
                               occlusion=args.occlusion, rays=np.asarray(rays), rotation=args.rotation,
                               max_rotation_deg=args.max_rotation)
        check_final_loss(info)
        info.update(init=args.init, jitter=args.jitter, centre_sd=args.centre_sd, scale_range=args.scale_range,
                    train_sets=args.train)
        metrics = evaluate(torch_runner(net), xt, yt)
        print(metrics.table())
        contract = head_contract(args.modality, True, f"synthetic shards {args.train}; test {args.test}",
                                 {"test": metrics.to_dict(), "training": info})
        torch.save(net.state_dict(), out / f"head_poseidon_{args.modality}.pt")  # for fine-tuning (--init)
        rep = export_model(net, out / f"head_poseidon_{args.modality}.onnx", contract)
        print(rep.line())
        (out / f"head_poseidon_{args.modality}.metrics.json").write_text(
            json.dumps({"metrics": metrics.to_dict(), "training": info, "export": rep.__dict__}, indent=1))
    print(f"wrote the model to {out}")


def load_init(net: PoseidonNet, init: str | None) -> PoseidonNet:
    """--init: an exported .onnx (batch norms folded: freeze them) or a .pt state dict."""
    if init and init.endswith(".onnx"):
        load_onnx_weights(net, init)
    elif init:
        net.load_state_dict(torch.load(init))
    return net


def load_onnx_weights(net: PoseidonNet, path: str) -> PoseidonNet:
    """Continue training from an exported model (train.finetune): folded convolutions, the fully
    connected layers, and batch norms made identities (call `freeze_batch_norm` after `net.train()`)."""
    nodes, weights = read_onnx_weights(path)
    convs = [n for n in nodes if n.op_type == "Conv"]
    gemms = [n for n in nodes if n.op_type in ("Gemm", "MatMul")]
    t_convs = [mod for mod in net.features if isinstance(mod, torch.nn.Conv2d)]
    t_lin = [mod for mod in net.head if isinstance(mod, torch.nn.Linear)]
    if len(convs) != len(t_convs) or len(gemms) != len(t_lin):
        raise ValueError(f"{path}: graph has {len(convs)} convs / {len(gemms)} gemms, the network "
                         f"{len(t_convs)} / {len(t_lin)}; not a POSEidon export")
    copy_conv_weights(path, convs, weights, t_convs)
    with torch.no_grad():
        for node, mod in zip(gemms, t_lin):
            w = weights[node.input[1]]
            trans_b = any(a.name == "transB" and a.i == 1 for a in node.attribute)
            mod.weight.copy_(torch.from_numpy((w if trans_b else w.T).copy()))
            mod.bias.copy_(torch.from_numpy(weights[node.input[2]].copy()))
    batch_norms_to_identity(net)
    return net


if __name__ == "__main__":
    main()
