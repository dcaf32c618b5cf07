"""Train, evaluate and export the body-joint network (seed 001 sec. 4.2).

Adam (lr 1e-4 in the paper, weight decay 1e-4), per-stage masked L2 on sigma=7 Gaussian targets,
augmentations of train/augment.py, dropout between stages. On this project's 2-core CPU the lite
model gets a higher learning rate (1e-3, cosine-decayed) so it converges within its time budget;
the rate is a flag and the model card records what was used.

Frames are kept at twice the network's letterbox scale (nearest-neighbour) so thousands fit in
memory; augmentation resamples from that copy. Evaluation runs the runtime's own path (letterbox
preprocess, decode with sub-pixel refinement, map back) on full-resolution frames and scores in
original image pixels with monitor.metrics.keypoint_metrics.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import cv2
import numpy as np
import torch

from exporters.body_net import CONFIGS, BodyNet, BodyNetConfig, ExportHead, masked_stage_loss
from monitor.estimator import body_io
from monitor.estimator.heatmaps import encode
from monitor.metrics import KeypointMetrics, keypoint_metrics
from train.augment import random_affine
from train.finetune import (batch_norms_to_identity, copy_conv_weights, cosine_lr, freeze_batch_norm,
                            read_onnx_weights)
from train.options import (BUDGET_HELP, OUT_HELP, Budget, InputError, check_final_loss, check_init, check_numbers,
                           check_out, count_frames, default_out, open_records, out_folder, positive,
                           refuse_bad_input, set_threads, resolve_minutes)
from train.records import FrameRecord

SIGMA = 7.0


@dataclass
class BodyArrays:
    images: list[np.ndarray]     # reduced copies
    uv: np.ndarray               # (N, K, 2) in reduced-copy pixels
    vis: np.ndarray              # (N, K) bool


def reduce_records(records: Iterable[FrameRecord], input_hw: tuple[int, int], modality: str = "depth",
                   oversample: float = 2.0) -> BodyArrays:
    images, uvs, viss = [], [], []
    for r in records:
        img = r.image(modality)
        if img is None or r.joints_uv is None:
            continue
        h, w = img.shape
        s = min(oversample * min(input_hw[0] / h, input_hw[1] / w), 1.0)
        size = (max(int(round(w * s)), 1), max(int(round(h * s)), 1))
        small = cv2.resize(img, size, interpolation=cv2.INTER_NEAREST_EXACT)
        sx, sy = size[0] / w, size[1] / h
        if modality == "depth" and r.depth_unit_mm != 1.0:
            small = np.clip(small.astype(np.float64) * r.depth_unit_mm, 0, 65535).astype(np.uint16)
        images.append(small)
        uvs.append((r.joints_uv + 0.5) * [sx, sy] - 0.5)
        viss.append(r.joints_vis.astype(bool))
    if not images:
        raise ValueError("no usable records: body training needs frames with the modality's image and joints")
    return BodyArrays(images, np.array(uvs), np.array(viss))


def make_batch(data: BodyArrays, idx: Sequence[int], config: BodyNetConfig, normalisation: dict,
               rng: np.random.Generator | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x (B, 1, H, W), targets (B, K, h, w), mask (B, K)); rng None = no augmentation."""
    hw = tuple(config.input_hw)
    hm_hw = (hw[0] // config.stride, hw[1] // config.stride)
    perm = body_io.flip_permutation(config.joint_names)
    xs, ts, ms = [], [], []
    for i in idx:
        img = data.images[i]
        if rng is None:
            m, flipped = body_io.resize_affine(img.shape, hw), False
        else:
            m, flipped = random_affine(img.shape, hw, rng)
        x = body_io.normalise_image(body_io.warp_image(img, m, hw), normalisation)
        uv = body_io.apply_affine(m, data.uv[i])
        vis = data.vis[i].copy()
        if flipped:
            uv, vis = uv[perm], vis[perm]
        xs.append(x[None])
        ts.append(encode(uv, vis, hm_hw, config.stride, SIGMA))
        ms.append(vis.astype(np.float32))
    return np.stack(xs), np.stack(ts), np.stack(ms)


def load_body_onnx_weights(net: BodyNet, path: str | Path) -> BodyNet:
    """Continue training from an exported body model (train.finetune): folded convolutions back in,
    batch norms made identities (train_body freezes them)."""
    nodes, weights = read_onnx_weights(path)
    convs = [n for n in nodes if n.op_type == "Conv"]
    t_convs = [mod for mod in net.modules() if isinstance(mod, torch.nn.Conv2d)]
    if len(convs) != len(t_convs):
        raise ValueError(f"{path}: graph has {len(convs)} convolutions, {net.config.name} has {len(t_convs)}; "
                         "not an export of this configuration")
    copy_conv_weights(path, convs, weights, t_convs)
    batch_norms_to_identity(net)
    return net


def train_body(train: BodyArrays, config: BodyNetConfig, normalisation: dict, minutes: float | None, seed: int = 0,
               batch: int = 16, lr: float = 1e-3, weight_decay: float = 1e-4, max_steps: int | None = None,
               init: str | None = None, log=print) -> tuple[BodyNet, dict]:
    """Stops at whichever comes first, ``max_steps`` steps or ``minutes`` (train.options.Budget)."""
    budget = Budget(minutes, max_steps)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = BodyNet(config)
    if init:
        load_body_onnx_weights(net, init)
    net = net.to(memory_format=torch.channels_last)  # ~30 % faster convs on CPU
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    n = len(train.images)
    step, losses, t0 = 0, [], budget.start()
    net.train()
    if init:
        freeze_batch_norm(net)  # their statistics are folded into the convolutions
    while not budget.done(step):
        # cosine decay over the budget nearer its end (wall clock: speed varies on a shared CPU)
        for g in opt.param_groups:
            g["lr"] = cosine_lr(lr, budget.progress(step))
        idx = rng.integers(0, n, batch)
        x, t, m = make_batch(train, idx, config, normalisation, rng)
        beliefs = net(torch.from_numpy(x).contiguous(memory_format=torch.channels_last))
        loss = masked_stage_loss(beliefs, torch.from_numpy(t), torch.from_numpy(m))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        step += 1
        if step % 100 == 0:
            log(f"[body {config.name}] step {step} loss {np.mean(losses[-100:]):.3f} "
                f"{(time.monotonic() - t0) / step * 1000:.0f} ms/step")
    net = net.to(memory_format=torch.contiguous_format).eval()
    return net, {"steps": step, "stopped_by": budget.stopped_by(step), "batch": batch, "lr": lr, "weight_decay": weight_decay,
                 "final_loss": float(np.mean(losses[-100:])) if losses else None,
                 "train_seconds": round(time.monotonic() - t0, 1), "train_frames": n, "seed": seed,
                 "init": str(init) if init else None}


def predict(run, records: Iterable[FrameRecord], input_hw: tuple[int, int], stride: int, normalisation: dict,
            modality: str = "depth") -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Runtime path over records; run(x) -> (1, K, h, w). Returns gt (N, K, 3), pred (N, K, 2), conf."""
    gts, preds, confs = [], [], []
    for r in records:
        img = r.image(modality)
        if img is None or r.joints_uv is None:
            continue
        x, m = body_io.preprocess(img, input_hw, normalisation, r.depth_unit_mm)
        uv, conf = body_io.postprocess(run(x)[0], stride, m)
        gts.append(np.concatenate([r.joints_uv, r.joints_vis[:, None].astype(float)], 1))
        preds.append(uv)
        confs.append(conf)
    return np.array(gts), np.array(preds), np.array(confs)


def evaluate_torch(net: BodyNet, records: Iterable[FrameRecord], normalisation: dict) -> KeypointMetrics:
    c = net.config
    head = ExportHead(net).eval()

    def run(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return head(torch.from_numpy(x)).numpy()

    gt, pred, conf = predict(run, records, tuple(c.input_hw), c.stride, normalisation)
    return keypoint_metrics(gt, pred, conf, names=c.joint_names)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", nargs="+", required=True, help="train.data pack files or folders for training")
    ap.add_argument("--test", nargs="+", required=True, help="held-out train.data pack files or folders")
    ap.add_argument("--config", default="body_lite", choices=sorted(CONFIGS))
    ap.add_argument("--minutes", type=float, default=None,
                    help=f"wall-clock budget (default 20 when --max-steps is not given, else none); {BUDGET_HELP}")
    ap.add_argument("--max-steps", type=int, default=None, help="step budget (default: none, --minutes alone)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help=OUT_HELP.format(kind="<config>"))
    ap.add_argument("--threads", type=int, default=2, help="torch threads (0: torch's default)")
    ap.add_argument("--max-frames", type=int, default=None, help="use at most this many training frames")
    ap.add_argument("--max-test", type=int, default=None, help="evaluate on at most this many test frames")
    ap.add_argument("--init", default=None, metavar="MODEL.onnx",
                    help="continue from an exported model of the same configuration (e.g. models/body_lite.onnx)")
    ap.add_argument("--oversample", type=float, default=2.0,
                    help="training copies are kept at this multiple of the letterbox scale")
    args = ap.parse_args(argv)
    args.minutes = resolve_minutes(args.minutes, args.max_steps, 20.0)
    from itertools import islice

    from exporters.export import BODY_NORMALISATION, body_contract, export_model

    config = CONFIGS[args.config]
    norm = dict(BODY_NORMALISATION)
    args.out = args.out or default_out(config.name)
    with refuse_bad_input():  # everything is checked before the training starts
        check_numbers(args)
        for name in ("max_frames", "max_test"):
            if getattr(args, name) is not None and getattr(args, name) < 1:
                raise InputError(f"--{name.replace('_', '-')} must be 1 or more, got {getattr(args, name)}")
        positive(args.oversample, "--oversample", "a positive multiple of the letterbox scale")
        check_out(args.out)
        check_init(lambda p: load_body_onnx_weights(BodyNet(config), p), args.init,
                   f"an ONNX export of {config.name}")
        set_threads(args.threads)
        # the test set is read after training: open and count it now
        open_records(args.test, "--test", "train.body")
        if count_frames(args.test) == 0:
            raise InputError(f"--test {' '.join(args.test)}: no frames")
        try:
            train = reduce_records(islice(open_records(args.train, "--train", "train.body"), args.max_frames),
                                   tuple(config.input_hw), oversample=args.oversample)
        except ValueError as exc:  # no usable frames
            raise InputError(f"--train: {exc}") from None
    print(f"[body] {len(train.images)} training frames")
    with out_folder(args.out) as out:
        net, info = train_body(train, config, norm, args.minutes, args.seed, args.batch, args.lr,
                               max_steps=args.max_steps, init=args.init)
        check_final_loss(info)
        info["train_sets"] = args.train
        test = list(islice(open_records(args.test, "--test", "train.body"), args.max_test))
        metrics = evaluate_torch(net, test, norm)
        print(metrics.table())
        data_desc = f"synthetic shards {args.train}; test {args.test}"
        contract = body_contract(config, True, data_desc, {"test": metrics.to_dict(), "training": info})
        torch.save(net.state_dict(), out / f"{config.name}.pt")  # for fine-tuning
        rep = export_model(ExportHead(net), out / f"{config.name}.onnx", contract)
        print(rep.line())
        (out / f"{config.name}.metrics.json").write_text(json.dumps({"metrics": metrics.to_dict(), "training": info,
                                                                       "export": rep.__dict__}, indent=1))
    print(f"wrote the model to {out}")


if __name__ == "__main__":
    main()
