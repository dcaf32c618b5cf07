"""Body-joint metrics of Watch-R-Patch sec. 5.1: COCO keypoint AP over OKS thresholds.

OKS (seed 001 eq. 6) = sum_i v_i exp(-d_i^2 / (2 s^2 k_i^2)) / sum_i v_i with k_i = 2 sigma_i and
s^2 the ground-truth area (the area of the box holding all labelled keypoints unless the dataset
gives one). AP at one OKS threshold follows pycocotools' COCOeval exactly (greedy matching of
score-sorted detections, 101-point interpolated precision, maxDets 20), so figures agree with it
(tests/test_models_metrics.py checks to 1e-6); mAP averages AP over OKS 0.50:0.05:0.95 (eq. 5).

Per-joint AP (seed 001 Table 3): the same procedure with the OKS of one joint only and the joint's
confidence as the detection score; images where that joint is not labelled are left out.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from monitor.estimates import JOINTS_21

_GROUP_SIGMA = {"spine": 0.107, "neck": 0.107, "head": 0.107, "hip": 0.107, "ankle": 0.089,
                "foot": 0.089, "knee": 0.087, "shoulder": 0.079, "elbow": 0.072, "wrist": 0.062,
                "hand": 0.062}


def _sigma_for(name: str) -> float:
    low = name.lower()
    if low.startswith("spine"):  # SpineBase, SpineMid, SpineShoulder
        return _GROUP_SIGMA["spine"]
    for group, sigma in _GROUP_SIGMA.items():
        if low.startswith(group):
            return sigma
    raise ValueError(f"no OKS sigma for joint {name!r}")


# Seed 001 sec. 5.1 per-joint sigmas in JOINTS_21 order.
BODY_SIGMAS_21: np.ndarray = np.array([_sigma_for(n) for n in JOINTS_21])
OKS_THRESHOLDS: np.ndarray = np.linspace(0.5, 0.95, 10)
RECALL_THRESHOLDS: np.ndarray = np.linspace(0.0, 1.0, 101)
MAX_DETS = 20


def keypoint_area(gt_xyv: np.ndarray) -> float:
    """Area of the box around the labelled keypoints of one person ((K, 3) x, y, v)."""
    vis = gt_xyv[:, 2] > 0
    if not vis.any():
        return 0.0
    xy = gt_xyv[vis, :2]
    span = xy.max(0) - xy.min(0)
    return float(span[0] * span[1])


def oks(gt_xyv: np.ndarray, area: float, dt_xy: np.ndarray, sigmas: np.ndarray = BODY_SIGMAS_21) -> float:
    """OKS of one detection (K, 2) against one ground truth (K, 3); NaN when nothing is labelled."""
    vis = gt_xyv[:, 2] > 0
    if not vis.any():
        return float("nan")
    var = (2.0 * np.asarray(sigmas)) ** 2
    d2 = ((np.asarray(dt_xy)[:, :2] - gt_xyv[:, :2]) ** 2).sum(1)
    e = d2 / var / (area + np.spacing(1)) / 2.0
    return float(np.exp(-e[vis]).mean())


def average_precision(ious: Sequence[np.ndarray], scores: Sequence[np.ndarray],
                      thresholds: np.ndarray = OKS_THRESHOLDS) -> np.ndarray:
    """COCOeval's AP per threshold. ious[i]: (D_i, G_i) OKS of image i's detections against its
    (non-ignored) ground truths; scores[i]: (D_i,). Returns (T,) AP, NaN where there is no ground truth."""
    if len(ious) != len(scores):
        raise ValueError(f"{len(ious)} OKS matrices but {len(scores)} score arrays; give one of each per image")
    all_scores, all_matched, n_gt = [], [], 0
    for iou, score in zip(ious, scores):
        iou = np.asarray(iou, dtype=np.float64).reshape(len(score), -1)
        order = np.argsort(-np.asarray(score), kind="mergesort")[:MAX_DETS]
        iou = iou[order]
        n_gt += iou.shape[1]
        matched = np.zeros((len(thresholds), len(order)), dtype=bool)
        for ti, t in enumerate(thresholds):
            taken = np.zeros(iou.shape[1], dtype=bool)
            for di in range(len(order)):
                best, m = min(t, 1 - 1e-10), -1
                for gi in range(iou.shape[1]):
                    if taken[gi] or iou[di, gi] < best:
                        continue
                    best, m = iou[di, gi], gi
                if m >= 0:
                    taken[m] = True
                    matched[ti, di] = True
        all_scores.append(np.asarray(score, dtype=np.float64)[order])
        all_matched.append(matched)
    if n_gt == 0:
        return np.full(len(thresholds), np.nan)
    s = np.concatenate(all_scores) if all_scores else np.zeros(0)
    m = np.concatenate(all_matched, axis=1) if all_matched else np.zeros((len(thresholds), 0), bool)
    order = np.argsort(-s, kind="mergesort")
    m = m[:, order]
    ap = np.zeros(len(thresholds))
    for ti in range(len(thresholds)):
        tp = np.cumsum(m[ti]).astype(np.float64)
        fp = np.cumsum(~m[ti]).astype(np.float64)
        rc = tp / n_gt
        pr = tp / (fp + tp + np.spacing(1))
        pr = np.maximum.accumulate(pr[::-1])[::-1] if len(pr) else pr  # precision envelope
        idx = np.searchsorted(rc, RECALL_THRESHOLDS, side="left")
        q = np.zeros(len(RECALL_THRESHOLDS))
        ok = idx < len(pr)
        q[ok] = pr[idx[ok]]
        ap[ti] = q.mean()
    return ap


@dataclass(frozen=True)
class KeypointMetrics:
    ap50: float
    ap75: float
    map: float
    per_joint: dict[str, float]  # joint name -> mAP over OKS 0.5:0.95
    n_images: int

    def table(self) -> str:
        """Seed 001 Table 2 (overall) and Table 3 (per joint) layout."""
        lines = ["| Metric | Value |", "|---|---|", f"| AP^OKS=0.50 | {self.ap50:.3f} |",
                 f"| AP^OKS=0.75 | {self.ap75:.3f} |", f"| mAP | {self.map:.3f} |", "",
                 "| Joint | mAP |", "|---|---|"]
        lines += [f"| {name} | {value:.3f} |" for name, value in self.per_joint.items()]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"ap50": self.ap50, "ap75": self.ap75, "map": self.map, "per_joint": self.per_joint,
                "n_images": self.n_images}


def keypoint_metrics(gt_xyv: np.ndarray, pred_xy: np.ndarray, pred_conf: np.ndarray,
                     areas: np.ndarray | None = None, names: Sequence[str] = JOINTS_21,
                     sigmas: np.ndarray = BODY_SIGMAS_21) -> KeypointMetrics:
    """Single-person evaluation, one ground truth and one detection per image.

    gt_xyv: (N, K, 3) pixels + visibility (v > 0 labelled); pred_xy: (N, K, 2); pred_conf: (N, K)
    per-joint confidences (the person's score is their mean). areas: (N,) s^2 per image, default
    the keypoint box area. Images with no labelled joint contribute nothing."""
    gt = np.asarray(gt_xyv, dtype=np.float64)
    pred = np.asarray(pred_xy, dtype=np.float64)
    conf = np.asarray(pred_conf, dtype=np.float64)
    n, k = gt.shape[:2]
    if gt.shape != (n, k, 3) or pred.shape != (n, k, 2) or conf.shape != (n, k) or len(sigmas) != k:
        raise ValueError(f"expected gt (N, K, 3), pred (N, K, 2), conf (N, K), {k} sigmas; got "
                         f"{gt.shape}, {pred.shape}, {conf.shape}, {len(sigmas)}")
    if areas is None:
        areas = np.array([keypoint_area(g) for g in gt])
    keep = (gt[:, :, 2] > 0).any(1)
    ious = [np.array([[oks(gt[i], areas[i], pred[i], sigmas)]]) for i in range(n) if keep[i]]
    scores = [conf[i].mean(keepdims=True) for i in range(n) if keep[i]]
    ap = average_precision(ious, scores)
    per_joint = {}
    var = (2.0 * np.asarray(sigmas)) ** 2
    d2 = ((pred - gt[:, :, :2]) ** 2).sum(2)
    joint_oks = np.exp(-d2 / var / (np.asarray(areas)[:, None] + np.spacing(1)) / 2.0)
    for j, name in enumerate(names):
        sel = gt[:, j, 2] > 0
        ap_j = average_precision([np.array([[v]]) for v in joint_oks[sel, j]],
                                 [np.array([c]) for c in conf[sel, j]])
        per_joint[name] = float(np.mean(ap_j)) if sel.any() else float("nan")
    return KeypointMetrics(float(ap[0]), float(ap[5]), float(np.mean(ap)), per_joint, int(keep.sum()))
