"""Head pose metrics of AutoPOSE sec. 5.3: MAE, STD, RMSE and BMAE (eq. 4, d=5, k=120).

Per axis (pitch, roll, yaw as in AutoPOSE Table 2) and "Avg". How the Avg column is formed follows
the numbers of Table 2: MAE, STD and BMAE average the three axes (3.37 = mean(2.96, 3.16, 3.99));
RMSE takes the root of the mean squared error over all axes (5.97 = sqrt(mean(4.73^2, 4.55^2,
7.98^2)), as the text says). STD is the standard deviation of the signed error (Table 2 satisfies
RMSE^2 = bias^2 + STD^2 only for the signed error).

BMAE (Schwarz et al. 2017 as adapted by AutoPOSE): the ground-truth angles are binned by |y| into
sections [i, i+d) for i in {0, d, ..., k}; phi_i is the mean absolute error in bin i and
BMAE = d/k * sum_i phi_i. A synthetic or real test set rarely fills every bin (pitch seldom passes
40 deg), and an empty bin has no phi; we average phi over the populated bins, which equals eq. 4
when every bin between 0 and k is populated and otherwise does not reward a narrow test set.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

AXES = ("pitch", "roll", "yaw")


def wrap_deg(a: np.ndarray) -> np.ndarray:
    """Wrap angles (deg) into [-180, 180)."""
    return (np.asarray(a, dtype=np.float64) + 180.0) % 360.0 - 180.0


def bmae(truth: np.ndarray, abs_err: np.ndarray, d: float = 5.0, k: float = 120.0) -> tuple[float, int]:
    """Balanced MAE for one axis: mean of per-bin MAE over populated bins of |truth| (see module doc).
    Returns (bmae, populated bins)."""
    mag = np.abs(truth)
    phis = []
    for i in np.arange(0.0, k + d / 2, d):  # i in dN ∩ [0, k]
        sel = (mag >= i) & (mag < i + d)
        if sel.any():
            phis.append(abs_err[sel].mean())
    if not phis:
        return float("nan"), 0
    return float(np.mean(phis)), len(phis)


@dataclass(frozen=True)
class HeadPoseMetrics:
    """Per-axis figures in degrees; keys are 'pitch', 'roll', 'yaw', 'avg'."""

    mae: dict[str, float]
    std: dict[str, float]
    rmse: dict[str, float]
    bmae: dict[str, float]
    n: int
    bmae_bins: dict[str, int] = field(default_factory=dict)

    def table(self) -> str:
        """AutoPOSE Table 2 layout."""
        cols = (*AXES, "avg")
        lines = ["| Metric | Pitch | Roll | Yaw | Avg |", "|---|---|---|---|---|"]
        for name, row in (("MAE", self.mae), ("STD", self.std), ("RMSE", self.rmse), ("BMAE", self.bmae)):
            lines.append(f"| {name} | " + " | ".join(f"{row[c]:.2f}" for c in cols) + " |")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"mae": self.mae, "std": self.std, "rmse": self.rmse, "bmae": self.bmae, "n": self.n,
                "bmae_bins": self.bmae_bins}


def head_pose_metrics(truth_ypr: np.ndarray, pred_ypr: np.ndarray, d: float = 5.0,
                      k: float = 120.0) -> HeadPoseMetrics:
    """truth/pred: (N, 3) angles in degrees ordered (yaw, pitch, roll) as the networks output them."""
    t = np.asarray(truth_ypr, dtype=np.float64)
    p = np.asarray(pred_ypr, dtype=np.float64)
    if t.shape != p.shape or t.ndim != 2 or t.shape[1] != 3 or len(t) == 0:
        raise ValueError(f"truth and prediction must both be (N>0, 3) yaw/pitch/roll arrays, got "
                         f"{t.shape} and {p.shape}")
    err = wrap_deg(p - t)
    col = {"yaw": 0, "pitch": 1, "roll": 2}
    mae, std, rmse, bm, bins = {}, {}, {}, {}, {}
    for axis in AXES:
        e = err[:, col[axis]]
        mae[axis] = float(np.abs(e).mean())
        std[axis] = float(e.std())
        rmse[axis] = float(np.sqrt((e ** 2).mean()))
        bm[axis], bins[axis] = bmae(t[:, col[axis]], np.abs(e), d, k)
    mae["avg"] = float(np.mean([mae[a] for a in AXES]))
    std["avg"] = float(np.mean([std[a] for a in AXES]))
    rmse["avg"] = float(np.sqrt((err ** 2).mean()))
    bm["avg"] = float(np.mean([bm[a] for a in AXES]))
    return HeadPoseMetrics(mae, std, rmse, bm, len(t), bins)
