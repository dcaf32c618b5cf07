"""Geometric gaze-zone classifier: head pose -> gaze ray in the car frame -> zone probabilities.

The ray starts at the head centre (head-position parallax: a zone's direction depends on where the
head is) and points where the face points (-z of the AutoPOSE head frame), corrected by a
head-to-gaze model (`HeadGazeModel`): gaze angle = offset + gain * head angle per axis. The
layout's default model is used unless a per-driver calibration supplies its own (the calibrated
classifier). The ray's origin is the head pose's position; without one (no depth) the body
joint "Head" (if its confidence is at least `MIN_JOINT_CONFIDENCE`), else the layout's nominal
head centre. With `use_head_space` the head-only part is scored in head angles instead, allowing
for the spread of the driver's head share (monitor/gaze/head_space.py; `--gaze-scoring head-space`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calib.layout import CabinLayout, CameraPose, HeadGazeModel
from monitor.estimates import EyeGaze, HeadPose, Joints
from monitor.gaze.head_space import HeadSpaceConfig, HeadSpaceScorer
from monitor.gaze.ray import angles_to_direction, direction_to_angles, face_direction
from monitor.gaze.zones import UNKNOWN, ZoneScorer


MIN_JOINT_CONFIDENCE = 0.3
# a head centre farther than this from the layout's nominal head (per axis) is a bad estimate
MAX_HEAD_OFFSET_MM = 1000.0


@dataclass
class ZoneEstimate:
    """One frame's classification before smoothing. head_valid False -> zone "unknown"."""

    zone: str
    probabilities: dict[str, float]
    head_valid: bool
    head_position_car_mm: np.ndarray | None = None
    gaze_direction_car: np.ndarray | None = None
    head_angles_deg: tuple[float, float] | None = None
    gaze_angles_deg: tuple[float, float] | None = None


class GazeZoneClassifier:
    """``corrections``: optional (n, 4) rows (head azimuth, head elevation, gaze azimuth error,
    gaze elevation error) in degrees, e.g. a driver calibration's per-target residuals of the
    linear model: the gaze angles are corrected by their inverse-square-distance blend (softened
    by CORRECTION_SOFTENING_DEG: the row of the nearest head direction dominates, neighbours a few
    degrees away still pull by ~10 %; smooth in between). Without a model of its own the classifier
    uses the layout's default model and that model's corrections (`CabinLayout.driver_corrections`)."""

    CORRECTION_SOFTENING_DEG = 2.0

    def __init__(self, layout: CabinLayout, model: HeadGazeModel | None = None,
                 corrections: np.ndarray | None = None) -> None:
        self.layout = layout
        self.model = model or layout.driver_model
        if model is None and corrections is None:  # the layout's default model comes with its own
            corrections = layout.correction_rows()
        self.corrections = None if corrections is None or len(corrections) == 0 else np.asarray(corrections, float)
        self.camera: CameraPose = layout.camera_pose
        self.scorer = ZoneScorer(layout)
        # added to every head direction (road-ahead auto-calibration, monitor/gaze/autocal.py)
        self.head_offset_deg: tuple[float, float] = (0.0, 0.0)
        # how widely the head directions scatter about the road ahead (autocal.py scatter_deg), which
        # head-space scoring reads as the head model's noise on this view; None: not measured
        self.head_scatter_deg: float | None = None
        # with an eye-gaze estimate: 0 = head-only gaze, 1 = the eyes' ray alone, between: a blend
        self.eye_weight = 1.0
        # with an eye spread (the eye model's own expected error) and this set: the head-only gaze's
        # expected per-axis error, and the eye weight is scaled by the inverse-variance share
        # head_spread^2 / (head_spread^2 + eye_spread^2), so unreadable eyes fall back to the head
        self.head_spread_deg: float | None = None
        # with the eye locator's P(eyes hidden): scale the eye weight by 1 - P (sunglasses -> the head)
        self.eyes_hidden_fallback = True
        # (full, zero) deg: scale the eye weight by `oblique_view_share` of the face's turn away from
        # the camera (eyes seen from the side read badly); None: not scaled
        self.eye_view_deg: tuple[float, float] | None = None
        # with this set, the head-only gaze is scored in head angles (monitor/gaze/head_space.py)
        self.head_space: HeadSpaceScorer | None = None
        self._empty = {label: 0.0 for label in self.scorer.labels}

    def use_head_space(self, config: HeadSpaceConfig | None) -> None:
        """Score the head-only gaze in head angles with ``config`` (None: as a ray, the default).
        Uses this classifier's model and corrections: call it again after changing them."""
        self.head_space = None if config is None else HeadSpaceScorer(self.layout, self.head_angles_for,
                                                                      self.gaze_angles, config)

    @property
    def labels(self) -> tuple[str, ...]:
        return self.scorer.labels

    def head_ray(self, head: HeadPose, joints: Joints | None = None
                 ) -> tuple[np.ndarray, np.ndarray, tuple[float, float]] | None:
        """(head centre car mm, face direction car, its (azimuth, elevation)) or None if unusable."""
        rot = np.asarray(head.rotation, dtype=np.float64)
        if rot.shape != (3, 3) or not np.all(np.isfinite(rot)):
            return None
        pos = head.position_mm
        if pos is None or not np.all(np.isfinite(pos)):
            pos = _head_joint(joints)
        with np.errstate(over="ignore", invalid="ignore"):  # a wild position is refused just below
            origin = None if pos is None else self.camera.to_car(np.asarray(pos, dtype=np.float64))
        if origin is None or not np.all(np.abs(origin - self.layout.nominal_head_mm) <= MAX_HEAD_OFFSET_MM):
            origin = self.layout.nominal_head_mm  # no position, or one no seat allows (overflow included)
        face = face_direction(self.camera.rotation @ rot)
        return origin, face, direction_to_angles(face)

    def gaze_angles(self, head_angles: tuple[float, float]) -> tuple[float, float]:
        m = self.model
        az, el = m.yaw_offset_deg + m.yaw_gain * head_angles[0], m.pitch_offset_deg + m.pitch_gain * head_angles[1]
        daz, delev = self._correction(head_angles)
        return az + daz, min(89.0, max(-89.0, el + delev))

    def _correction(self, head_angles: tuple[float, float]) -> tuple[float, float]:
        c = self.corrections
        if c is None:
            return 0.0, 0.0
        w = 1.0 / ((c[:, 0] - head_angles[0]) ** 2 + (c[:, 1] - head_angles[1]) ** 2
                   + self.CORRECTION_SOFTENING_DEG ** 2)
        w /= w.sum()
        return float(w @ c[:, 2]), float(w @ c[:, 3])

    def head_angles_for(self, gaze_deg: tuple[float, float], iterations: int = 8) -> tuple[float, float]:
        """The head direction the model (linear part and corrections) maps onto ``gaze_deg``: the
        linear inverse, refined by fixed-point steps (the corrections vary slowly with the head
        direction, so a few steps converge)."""
        m = self.model
        head = (0.0, 0.0)
        for _ in range(iterations if self.corrections is not None else 1):
            daz, delev = self._correction(head)
            head = ((gaze_deg[0] - daz - m.yaw_offset_deg) / m.yaw_gain,
                    (gaze_deg[1] - delev - m.pitch_offset_deg) / m.pitch_gain)
        return head

    def road_head_angles(self) -> tuple[float, float] | None:
        """Where the head points, per the model, when the driver looks at the (first) road zone."""
        if not self.layout.road_zones:
            return None
        origin = self.layout.nominal_head_mm
        road = self.layout.zone(self.layout.road_zones[0]).target_mm(origin) - origin
        return self.head_angles_for(direction_to_angles(road))

    def classify(self, head: HeadPose | None, joints: Joints | None = None,
                 eyes: EyeGaze | None = None) -> ZoneEstimate:
        """``head_angles_deg`` of the result is the raw face direction (before ``head_offset_deg``).
        With ``eyes`` (an eye-gaze estimate) the ray is the eyes' own, from their midpoint: the
        head-to-gaze model and its corrections are for head-only gaze and are not applied."""
        ray = None if head is None else self.head_ray(head, joints)
        if ray is None:
            return ZoneEstimate(UNKNOWN, dict(self._empty), False)
        rotation = head.rotation  # head -> camera; `head` is the angles from here on
        origin, _, head_angles = ray
        off = self.head_offset_deg
        head = (head_angles[0] + off[0], head_angles[1] + off[1])
        gaze_angles = self.gaze_angles(head)
        eye_ray = _eye_ray(self.camera, eyes)
        ray_origin, ray_angles, w = origin, gaze_angles, 0.0
        if eye_ray is not None and self.eye_weight > 0:
            # the eyes' ray is cut with the same head pose, so it carries the same bias: the
            # road-ahead offset applies to it too; then blended with the head-only model's gaze
            eye_origin, eye_dir = eye_ray
            eye_az, eye_el = direction_to_angles(eye_dir)
            eye_angles = (eye_az + off[0], eye_el + off[1])
            w = self._eye_share(eyes, rotation)
            if w > 0:  # eyes with no weight (hidden): exactly the head-only ray, its origin included
                ray_origin = eye_origin
            ray_angles = (gaze_angles[0] + w * (eye_angles[0] - gaze_angles[0]),
                          gaze_angles[1] + w * (eye_angles[1] - gaze_angles[1]))
        direction = angles_to_direction(*ray_angles)
        if self.head_space is None:
            p = self.scorer.probabilities(ray_origin, direction)
        else:
            # the head scored in head angles (monitor/gaze/head_space.py), mixed with the eyes' own
            # ray scored against the zones by the eye weight: p = w p_eyes + (1 - w) p_head. The
            # reported ray stays the blend above, so it can point at another zone than the one
            # chosen (e.g. short of the media centre on a small head turn)
            p = self.head_space.probabilities(origin, head, self.head_scatter_deg)
            if w > 0:
                p = w * self.scorer.probabilities(eye_origin, angles_to_direction(*eye_angles)) + (1.0 - w) * p
        return self._estimate(p, ray_origin, direction, head_angles, ray_angles)

    def _eye_share(self, eyes: EyeGaze, head_rotation: np.ndarray) -> float:
        """The eyes' weight against the head-only gaze for this frame's eye estimate;
        ``head_rotation``: the head pose's rotation head -> camera."""
        w = self.eye_weight * inverse_variance_share(self.head_spread_deg, eyes.spread_deg)
        if self.eyes_hidden_fallback and eyes.hidden_p is not None:
            w *= 1.0 - eyes.hidden_p
        if self.eye_view_deg is not None:
            face_camera = face_direction(np.asarray(head_rotation, dtype=np.float64))
            w *= oblique_view_share(view_angle_deg(face_camera, np.asarray(eyes.origin_mm, dtype=np.float64)),
                                    *self.eye_view_deg)
        return w

    def _estimate(self, p: np.ndarray, origin: np.ndarray, direction: np.ndarray, head_angles: tuple[float, float],
                  gaze_angles: tuple[float, float]) -> ZoneEstimate:
        probs = {label: float(v) for label, v in zip(self.scorer.labels, p)}
        return ZoneEstimate(self.scorer.labels[int(np.argmax(p))], probs, True, origin, direction,
                            head_angles, gaze_angles)


def inverse_variance_share(head_spread_deg: float | None, eye_spread_deg: float | None) -> float:
    """The eyes' share of an inverse-variance blend with the head-only gaze; 1 when either spread
    is unknown."""
    if head_spread_deg is None or eye_spread_deg is None:
        return 1.0
    h2 = float(head_spread_deg) ** 2
    return h2 / (h2 + float(eye_spread_deg) ** 2)


def view_angle_deg(face_camera: np.ndarray, eyes_camera_mm: np.ndarray) -> float:
    """Angle between where the face points and the line from the eyes to the camera (camera frame):
    0 when the driver faces the camera, 90 in profile."""
    distance = float(np.linalg.norm(eyes_camera_mm))
    if not distance > 0:
        return 0.0  # eyes at the camera centre: no direction to judge by (never in a real frame)
    to_camera = -eyes_camera_mm / distance
    return float(np.degrees(np.arccos(np.clip(np.dot(face_camera, to_camera), -1.0, 1.0))))


def oblique_view_share(angle_deg: float, full_deg: float, zero_deg: float) -> float:
    """1 below ``full_deg``, 0 from ``zero_deg`` on, linear in between (a step when they are equal)."""
    if angle_deg < full_deg:
        return 1.0
    if angle_deg >= zero_deg:
        return 0.0
    return float((zero_deg - angle_deg) / (zero_deg - full_deg))


def _eye_ray(camera: CameraPose, eyes: EyeGaze | None) -> tuple[np.ndarray, np.ndarray] | None:
    """(origin car mm, unit direction car) of an eye-gaze estimate, or None if it is unusable."""
    if eyes is None:
        return None
    if not all(v is None or np.isfinite(v) for v in (eyes.spread_deg, eyes.hidden_p)):
        return None  # NaN weights would make every zone look hit (the wire refuses them; the API need not)
    o, d = np.asarray(eyes.origin_mm, dtype=np.float64), np.asarray(eyes.direction, dtype=np.float64)
    if o.shape != (3,) or d.shape != (3,) or not (np.all(np.isfinite(o)) and np.all(np.isfinite(d))):
        return None
    n = np.linalg.norm(d)
    if not n > 0.5:
        return None
    return camera.to_car(o), camera.rotation @ (d / n)


def _head_joint(joints: Joints | None) -> np.ndarray | None:
    """Camera-frame position of the "Head" body joint when it is known and confident."""
    return joint_position(joints, "Head", MIN_JOINT_CONFIDENCE)


def joint_position(joints: Joints | None, name: str, min_confidence: float) -> np.ndarray | None:
    """Camera-frame position (mm) of body joint ``name`` when it is known and at least that confident."""
    if joints is None or name not in joints.names:
        return None
    i = joints.names.index(name)
    xyz = np.asarray(joints.xyz_mm[i], dtype=np.float64)
    if not np.all(np.isfinite(xyz)) or not float(joints.confidence[i]) >= min_confidence:
        return None
    return xyz
