"""An articulated occupant: Kinect v2 skeleton, limb volumes, a head with facial relief, accessories.

Head-local coordinates are AutoPOSE's head frame (monitor/geometry.py): origin at the mean of the
four eye corners, x towards the subject's left eye, y down, z out of the back of the head, mm.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from monitor.estimates import KINECT_V2_JOINTS
from monitor.geometry import euler_to_matrix, rot_x, rot_y, rot_z
from synth.cabin import GAZE_TARGETS
from synth.primitives import LABEL_ACCESSORY, LABEL_DRIVER, Box, Capsule, Ellipsoid, Primitive

J = {name: i for i, name in enumerate(KINECT_V2_JOINTS)}
# head frame of a driver looking straight ahead (+z of the car): x -> car -x, y -> car +y, z -> car -z
R_CAR_HEAD_NEUTRAL = np.diag([-1.0, 1.0, -1.0])
GLASSES = ("none", "clear", "sunglasses")
BACK_ANGLE_DEG = 18.0  # torso recline from vertical


@dataclass(frozen=True)
class Subject:
    """Body and head shape, reflectances and accessories of one person (seeded by subject id)."""

    subject_id: int
    stature: float        # overall scale, 1 = ~1.75 m
    girth: float          # width/depth of the trunk and limbs
    head_scale: float
    face_width: float
    jaw_width: float
    nose: float           # nose size
    brow: float           # brow ridge prominence
    hair: float           # 0 = bald, 1 = full volume
    skin: float           # NIR reflectance (0..1)
    cloth: float
    trousers: float
    hair_albedo: float
    sleeves: bool
    glasses: str
    scarf: bool
    long_hair: bool = False  # hair down to the shoulders
    cap: bool = False         # a peaked cap (its brim shades and hides the forehead)

    @classmethod
    def sample(cls, subject_id: int, glasses: str | None = None, scarf: bool | None = None) -> "Subject":
        r = np.random.default_rng([7, subject_id])
        return cls(
            subject_id=subject_id,
            stature=float(np.clip(r.normal(1.0, 0.05), 0.88, 1.12)),
            girth=float(np.clip(r.normal(1.0, 0.1), 0.8, 1.3)),
            head_scale=float(np.clip(r.normal(1.0, 0.04), 0.9, 1.1)),
            face_width=float(np.clip(r.normal(1.0, 0.05), 0.88, 1.12)),
            jaw_width=float(np.clip(r.normal(1.0, 0.07), 0.85, 1.18)),
            nose=float(np.clip(r.normal(1.0, 0.12), 0.75, 1.3)),
            brow=float(np.clip(r.normal(1.0, 0.15), 0.6, 1.4)),
            hair=float(r.choice([0.0, 0.5, 1.0, 1.0, 1.4])),
            skin=float(r.uniform(0.45, 0.75)),
            cloth=float(r.uniform(0.12, 0.8)),
            trousers=float(r.uniform(0.1, 0.5)),
            hair_albedo=float(r.uniform(0.15, 0.5)),
            sleeves=bool(r.random() < 0.7),
            # drawn whether or not overridden, so an override never shifts the other draws
            glasses=_override(glasses, str(r.choice(GLASSES, p=[0.55, 0.25, 0.2]))),
            scarf=_override(scarf, bool(r.random() < 0.15)),
            long_hair=bool(r.random() < 0.3),
            cap=bool(r.random() < 0.1),
        )


def _override(value, drawn):
    return drawn if value is None else value


@dataclass
class Pose:
    """What the behaviour timeline sets at one instant (car frame, degrees, mm)."""

    head_ypr: tuple[float, float, float] = (0.0, 0.0, 0.0)   # head vs looking straight ahead
    eye_yp: tuple[float, float] = (0.0, 0.0)                  # eyes vs head (yaw, pitch)
    torso: tuple[float, float, float] = (0.0, 0.0, 0.0)       # lean forward, lean right, twist right
    wrist_left: np.ndarray = field(default_factory=lambda: np.zeros(3))   # grip point: the fist closes
    wrist_right: np.ndarray = field(default_factory=lambda: np.zeros(3))  # around it (wheel rim)
    hand_dir_left: np.ndarray | None = None
    hand_dir_right: np.ndarray | None = None
    phone: bool = False                                       # phone in the right hand
    hand_goals: dict[str, tuple[str, float]] = field(default_factory=dict)  # side -> (activity, weight)


@dataclass
class Body:
    """A posed occupant: joints, head pose and solids, all in the car frame."""

    joints: np.ndarray               # (25, 3) Kinect v2 order
    head_rotation: np.ndarray        # head -> car
    head_center: np.ndarray          # head-frame origin (mean of the eye corners)
    eye_centers: np.ndarray          # (2, 3) left, right eyeball centres
    gaze_dir: np.ndarray             # unit gaze direction (car frame)
    prims: list[Primitive]
    owners: list[list[int]]          # per joint: indices of the solids that carry its surface
    head_prims: list[int]
    landmarks: dict[str, np.ndarray]  # eye corners, nose and mouth corners (car frame)


def two_bone(root: np.ndarray, target: np.ndarray, l1: float, l2: float, pole: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
    """Analytic two-bone IK: (middle joint, reached end) bending towards ``pole``."""
    v = target - root
    d = float(np.linalg.norm(v))
    axis = v / max(d, 1e-6)
    d = float(np.clip(d, abs(l1 - l2) + 1.0, l1 + l2 - 1.0))
    a = (l1 * l1 - l2 * l2 + d * d) / (2 * d)
    h = np.sqrt(max(l1 * l1 - a * a, 0.0))
    p = pole - (pole @ axis) * axis
    p = p / max(np.linalg.norm(p), 1e-6)
    return root + axis * a + p * h, root + axis * d


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-9)


def _frame(along: np.ndarray, hint: np.ndarray) -> np.ndarray:
    """Rotation whose y column is ``along`` and x column is as close to ``hint`` as possible."""
    y = _unit(along)
    x = _unit(hint - (hint @ y) * y)
    return np.stack([x, y, np.cross(x, y)], axis=1)


def head_parts(s: Subject) -> tuple[list[tuple[str, Ellipsoid]], dict[str, np.ndarray]]:
    """Head solids in head-local coordinates (label, solid) and the facial landmarks."""
    hs, fw, jw, nz, br = s.head_scale, s.face_width, s.jaw_width, s.nose, s.brow
    skin, eye_alb = s.skin, 0.6

    def e(c, r, alb=skin, rot=None, carves=(), pupil=None):
        return Ellipsoid(np.array(c, float) * hs, np.eye(3) if rot is None else rot,
                         np.array(r, float) * hs, alb, LABEL_DRIVER,
                         tuple((np.array(cc, float) * hs, rr * hs) for cc, rr in carves), pupil)

    ex = 32.0 * fw
    sockets = (((ex, -1.0, -15.0), 16.5), ((-ex, -1.0, -15.0), 16.5))
    parts = [
        ("cranium", e((0, -20, 62), (74 * fw, 102, 88), carves=sockets)),
        ("jaw", e((0, 40, 25), (60 * jw, 62, 56))),
        ("chin", e((0, 90, -2), (25 * jw, 16, 14))),
        ("lip_upper", e((0, 58, -22), (22, 5.5, 7.5), alb=skin * 0.9)),
        ("lip_lower", e((0, 69, -20), (20, 6, 7), alb=skin * 0.9)),
        ("nose_bridge", e((0, 8, -14 - 3 * (nz - 1)), (8.5, 25 * nz, 9.5))),
        ("nose_tip", e((0, 31 * nz ** 0.5, -27 - 6 * (nz - 1)), (10.5 * nz ** 0.5, 12, 13.5 * nz))),
        ("nostril_left", e((10, 37, -20), (8.5, 7, 8.5))),
        ("nostril_right", e((-10, 37, -20), (8.5, 7, 8.5))),
        ("brow", e((0, -24, -11 - 4 * br), (48 * fw, 12, 15 * br))),
        ("eyebrow_left", e((ex + 2, -19, -25 - 4 * br), (17, 3.5, 5), alb=s.hair_albedo * 0.8, rot=rot_z(-6))),
        ("eyebrow_right", e((-ex - 2, -19, -25 - 4 * br), (17, 3.5, 5), alb=s.hair_albedo * 0.8, rot=rot_z(6))),
        ("cheek_left", e((42 * fw, 22, 4), (22, 20, 12))),
        ("cheek_right", e((-42 * fw, 22, 4), (22, 20, 12))),
        ("ear_left", e((73 * fw, 8, 48), (8, 28, 16))),
        ("ear_right", e((-73 * fw, 8, 48), (8, 28, 16))),
        ("eye_left", e((ex, 0, 2), (12, 12, 12), alb=eye_alb, pupil=np.array([0.0, 0.0, -1.0]))),
        ("eye_right", e((-ex, 0, 2), (12, 12, 12), alb=eye_alb, pupil=np.array([0.0, 0.0, -1.0]))),
    ]
    if s.hair > 0:
        g = 1.0 + 0.06 * s.hair
        parts.append(("hair", e((0, -40 - 4 * s.hair, 76), (76 * fw * g, 101 * g, 94 * g), alb=s.hair_albedo)))
        if s.long_hair:  # falls behind the ears to the shoulders
            parts.append(("hair_long", e((0, 40, 78), (80 * fw * g, 125, 62), alb=s.hair_albedo)))
    if s.cap:
        parts.append(("cap", e((0, -48, 66), (82 * fw, 98, 98), alb=s.cloth * 0.8 + 0.1)))
        parts.append(("cap_brim", e((0, -62, -40), (72 * fw, 7, 62), alb=s.cloth * 0.8 + 0.1, rot=rot_x(-12))))
    lm = {
        "eye_left_outer": np.array([ex + 13, 0, 3]) * hs, "eye_left_inner": np.array([ex - 13, 0, -3]) * hs,
        "eye_right_inner": np.array([-ex + 13, 0, -3]) * hs, "eye_right_outer": np.array([-ex - 13, 0, 3]) * hs,
        # nose and mouth corners: their mean lies on the +y axis, as the head-frame definition requires
        "nose_left": np.array([13, 40, -4]) * hs, "nose_right": np.array([-13, 40, -4]) * hs,
        "mouth_left": np.array([22, 64, 4]) * hs, "mouth_right": np.array([-22, 64, 4]) * hs,
        "head_joint": np.array([0, -15, 50]) * hs, "pivot": np.array([0, 85, 70]) * hs,
        "neck_top": np.array([0, 95, 60]) * hs, "ear_right": np.array([-80 * fw, 10, 40]) * hs,
        "cheek_right": np.array([-50 * fw, 45, -10]) * hs, "chin": np.array([0, 100, -15]) * hs,
    }
    return parts, lm


def accessory_parts(s: Subject) -> list[Primitive]:
    """Glasses in head-local coordinates (scarf and phone are built on the body)."""
    if s.glasses == "none":
        return []
    hs, fw = s.head_scale, s.face_width
    ex = 32.0 * fw * hs
    z = -27.0 * hs
    rim, alb = 2.2, 0.3
    out: list[Primitive] = []
    for side in (1.0, -1.0):
        c = np.array([side * ex, -1.0 * hs, z])
        pts = [c + np.array([25 * np.cos(a), 17 * np.sin(a), 0]) * hs for a in np.linspace(0, 2 * np.pi, 9)]
        out += [Capsule(pts[i], pts[i + 1], rim, alb, LABEL_ACCESSORY) for i in range(8)]
        out.append(Capsule(c + np.array([side * 25 * hs, -4, 0]), np.array([side * 74 * fw * hs, 0, 45 * hs]),
                           rim, alb, LABEL_ACCESSORY))
        if s.glasses == "sunglasses":
            out.append(Ellipsoid(c, np.eye(3), np.array([25.0, 17.0, 2.5]) * hs, 0.03, LABEL_ACCESSORY))
        else:  # clear lens: no depth, a glare spot where it reflects the illuminator
            out.append(Ellipsoid(c + np.array([0, 0, 2.0]), np.eye(3), np.array([30.0, 21.0, 10.0]) * hs, 0.0,
                                 LABEL_ACCESSORY, glare_only=True))
    out.append(Capsule(np.array([ex - 25 * hs, -4, z]), np.array([-ex + 25 * hs, -4, z]), rim, alb, LABEL_ACCESSORY))
    return out


class Occupant:
    """A subject in the driver's seat: turns a `Pose` into a posed `Body` (car frame)."""

    def __init__(self, subject: Subject, seat_offset: np.ndarray, back_deg: float = BACK_ANGLE_DEG,
                 label: int = LABEL_DRIVER, belt_side: float = -1.0, foot_z: float = 720.0) -> None:
        """``seat_offset``: the hip point (car frame); ``back_deg``: trunk recline; ``belt_side``:
        -1 = belt anchor on the left (driver), +1 = on the right (front passenger)."""
        self.subject = subject
        self.hip = np.asarray(seat_offset, float).copy()
        self.back_deg = float(back_deg)
        self.label = label
        self.belt_side = belt_side
        self.foot_z = foot_z
        self.head_local, self.landmarks_local = head_parts(subject)
        self.glasses_local = accessory_parts(subject)
        parts = dict(self.head_local)
        self.eye_local = np.stack([parts["eye_left"].center, parts["eye_right"].center])

    def _hand_goal(self, kind: str, to_car, r_head: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Wrist position and hand direction (car frame) for a hand activity."""
        s = self.subject
        hs, fw = s.head_scale, s.face_width
        if kind == "hand_near_face":  # left palm on the left cheek / jaw
            palm = to_car(np.array([48 * fw, 62, -22]) * hs)
            wrist = to_car(np.array([62 * fw, 150, -40]) * hs)
        elif kind == "hand_near_face_right":  # right palm on the right cheek / jaw (the mirror image)
            palm = to_car(np.array([-48 * fw, 62, -22]) * hs)
            wrist = to_car(np.array([-62 * fw, 150, -40]) * hs)
        elif kind == "hand_over_mouth":  # right hand held in front of the mouth (a yawn, a cough)
            palm = to_car(np.array([-4 * fw, 62, -48]) * hs)
            wrist = to_car(np.array([-40 * fw, 150, -70]) * hs)
        elif kind == "chin_on_hand":  # chin resting on the left hand, elbow low
            palm = to_car(np.array([8 * fw, 112, -34]) * hs)
            wrist = to_car(np.array([22 * fw, 200, -30]) * hs)
        elif kind == "phone_to_ear":  # right hand holding a phone at the right ear
            palm = to_car(np.array([-100 * fw, 15, 20]) * hs)
            wrist = to_car(np.array([-108 * fw, 110, 5]) * hs)
        elif kind == "reach_media_centre":
            screen = np.array(GAZE_TARGETS["media_centre"].center_mm)
            return screen + np.array([-20.0, 30.0, -120.0]), np.array([0.0, -0.2, 1.0])
        else:
            raise ValueError(f"unknown hand activity {kind!r}")
        return wrist, _unit(palm - wrist)

    def pose(self, p: Pose) -> Body:
        """The posed occupant: skeleton first, then the solids around it."""
        sk = self._skeleton(p)
        solids = _Solids()
        self._trunk_and_limbs(sk, solids)
        self._seat_belt(sk, solids)
        gaze = sk.r_head @ (euler_to_matrix(p.eye_yp[0], p.eye_yp[1], 0.0) @ np.array([0, 0, -1.0]))
        head_idx = self._head(sk, gaze, solids)
        self._accessories(sk, p.phone, solids)
        lm = self.landmarks_local
        landmarks = {k: sk.to_car(v) for k, v in lm.items() if k not in ("pivot", "neck_top")}
        eye_c = np.stack([sk.to_car(self.eye_local[0]), sk.to_car(self.eye_local[1])])
        return Body(sk.joints, sk.r_head, sk.head_c, eye_c, gaze, solids.prims, solids.owners, head_idx, landmarks)

    def _skeleton(self, p: Pose) -> "_Skeleton":
        """The 25 joints (car frame), trunk axes and head pose for a `Pose`."""
        s = self.subject
        st, gw = s.stature, s.girth
        jt = np.zeros((25, 3))
        hip = self.hip
        lean_f, lean_r, twist = p.torso
        rt = rot_y(twist) @ rot_x(self.back_deg - lean_f) @ rot_z(-lean_r)
        up, right, fwd = rt @ np.array([0, -1.0, 0]), rt @ np.array([1.0, 0, 0]), rt @ np.array([0, 0, 1.0])
        hw = 88 * st * gw ** 0.5
        jt[J["SpineBase"]] = hip + np.array([0, -30, -20]) * st
        jt[J["HipLeft"]] = hip + np.array([-hw, 10, 0])
        jt[J["HipRight"]] = hip + np.array([hw, 10, 0])
        base = jt[J["SpineBase"]]
        jt[J["SpineMid"]] = base + up * 240 * st
        jt[J["SpineShoulder"]] = base + up * 460 * st
        sw = 178 * st * gw ** 0.3
        jt[J["ShoulderLeft"]] = jt[J["SpineShoulder"]] - right * sw - up * 25 * st
        jt[J["ShoulderRight"]] = jt[J["SpineShoulder"]] + right * sw - up * 25 * st
        u_neck = _unit(up + fwd * 0.45)
        jt[J["Neck"]] = jt[J["SpineShoulder"]] + u_neck * 60 * st
        pivot = jt[J["SpineShoulder"]] + u_neck * 120 * st

        r_head = R_CAR_HEAD_NEUTRAL @ euler_to_matrix(*p.head_ypr)
        lm = self.landmarks_local
        head_c = pivot - r_head @ lm["pivot"]
        sk = _Skeleton(jt, up, right, fwd, r_head, head_c, {"Left": 0.0, "Right": 0.0})
        jt[J["Head"]] = sk.to_car(lm["head_joint"])

        # arms: two-bone IK from the shoulders to the wrist targets, elbows down and out
        l1, l2 = 310 * st, 265 * st
        for side, wrist_t, hdir in (("Left", p.wrist_left, p.hand_dir_left), ("Right", p.wrist_right, p.hand_dir_right)):
            sh = jt[J["Shoulder" + side]]
            wrist_t = wrist_t - _unit(wrist_t - sh) * 58 * st  # the wrist sits a fist short of the grip
            goal = p.hand_goals.get(side.lower())
            if goal is not None and goal[1] > 0:
                g_wrist, g_dir = self._hand_goal(goal[0], sk.to_car, r_head)
                w = goal[1]
                sk.open_hand[side] = w
                base_dir = _unit(wrist_t - sh) if hdir is None else _unit(hdir)
                wrist_t = wrist_t + (g_wrist - wrist_t) * w
                hdir = _unit(base_dir + (g_dir - base_dir) * w)
            out = -right if side == "Left" else right
            elbow, wrist = two_bone(sh, wrist_t, l1, l2, out * 0.7 + np.array([0, 1.0, -0.3]))
            hd = _unit(wrist - elbow) if hdir is None else _unit(hdir)
            jt[J["Elbow" + side]] = elbow
            jt[J["Wrist" + side]] = wrist
            jt[J["Hand" + side]] = wrist + hd * 70 * st
            jt[J["HandTip" + side]] = wrist + hd * (115 + 50 * sk.open_hand[side]) * st
            thumb_side = _unit(np.cross(hd, np.array([0, 1.0, 0]))) * (1 if side == "Left" else -1)
            jt[J["Thumb" + side]] = wrist + hd * 75 * st + thumb_side * 40 * st
        # legs: feet on the footrest and the accelerator
        lt, ls = 430 * st, 430 * st
        for side, x in (("Left", -150.0), ("Right", 150.0)):
            ankle_t = np.array([self.hip[0] + x, 230.0, self.foot_z])
            knee, ankle = two_bone(jt[J["Hip" + side]], ankle_t, lt, ls, np.array([0, -1.0, 0.6]))
            jt[J["Knee" + side]] = knee
            jt[J["Ankle" + side]] = ankle
            jt[J["Foot" + side]] = ankle + np.array([0, 40.0, 140.0]) * st
        return sk

    def _trunk_parts(self, sk: "_Skeleton") -> list[tuple[np.ndarray, np.ndarray]]:
        """(centre, radii) of the abdomen and chest ellipsoids (trunk axes)."""
        st, gw = self.subject.stature, self.subject.girth
        base, up, fwd = sk.joints[J["SpineBase"]], sk.up, sk.fwd
        return [(base + up * 180 * st + fwd * 10, np.array([158 * gw, 165, 108 * gw]) * st),
                (base + up * 330 * st + fwd * 8, np.array([180 * gw ** 0.5, 165, 108 * gw ** 0.7]) * st)]

    def _trunk_and_limbs(self, sk: "_Skeleton", out: "_Solids") -> None:
        s, lab = self.subject, self.label
        st, gw = s.stature, s.girth
        jt, up, right = sk.joints, sk.up, sk.right
        cloth, skin = s.cloth, s.skin
        trunk = sk.trunk_axes
        base = jt[J["SpineBase"]]
        out.add(Ellipsoid(base + up * 30 * st, trunk, np.array([172 * gw, 110, 125 * gw]) * st, s.trousers, lab),
                "SpineBase", "HipLeft", "HipRight")
        (c_abd, r_abd), (c_chest, r_chest) = self._trunk_parts(sk)
        out.add(Ellipsoid(c_abd, trunk, r_abd, cloth, lab), "SpineBase", "SpineMid")
        out.add(Ellipsoid(c_chest, trunk, r_chest, cloth, lab), "SpineMid", "SpineShoulder")
        # shoulder girdle: broad, flat top between the shoulder joints
        out.add(Capsule(jt[J["ShoulderLeft"]] + right * 30 - up * 5, jt[J["ShoulderRight"]] - right * 30 - up * 5,
                        58 * st * gw ** 0.4, cloth, lab), "SpineShoulder", "ShoulderLeft", "ShoulderRight")
        for side in ("Left", "Right"):
            sh, el, wr = jt[J["Shoulder" + side]], jt[J["Elbow" + side]], jt[J["Wrist" + side]]
            out.add(Ellipsoid(sh, trunk, np.array([58, 58, 62]) * st * gw ** 0.5, cloth, lab), "Shoulder" + side)
            out.add(Capsule(sh, el, 47 * st * gw ** 0.5, cloth, lab), "Elbow" + side)
            out.add(Capsule(el, wr, 36 * st * gw ** 0.4, cloth if s.sleeves else skin, lab), "Elbow" + side,
                    "Wrist" + side)
            self._hand(sk, side, out)
            hp, kn, an, ft = jt[J["Hip" + side]], jt[J["Knee" + side]], jt[J["Ankle" + side]], jt[J["Foot" + side]]
            out.add(Capsule(hp, kn, 78 * st * gw ** 0.5, s.trousers, lab), "Hip" + side, "Knee" + side)
            out.add(Capsule(kn, an, 50 * st * gw ** 0.3, s.trousers, lab), "Knee" + side, "Ankle" + side)
            out.add(Ellipsoid((an + ft) / 2 + np.array([0, 10, 20]), _frame(ft - an, np.array([1.0, 0, 0])),
                              np.array([45, 120, 40]) * st, 0.1, lab), "Ankle" + side, "Foot" + side)
        out.add(Capsule(jt[J["SpineShoulder"]], sk.to_car(self.landmarks_local["neck_top"]), 50 * st * gw ** 0.3,
                        skin, lab), "Neck", "SpineShoulder")

    def _hand(self, sk: "_Skeleton", side: str, out: "_Solids") -> None:
        """Palm (a fist on the rim, or open), thumb, and for a fist the knuckles and curled fingers."""
        st, skin, lab = self.subject.stature, self.subject.skin, self.label
        jt = sk.joints
        wr = jt[J["Wrist" + side]]
        hd = _unit(jt[J["HandTip" + side]] - wr)
        fr = _frame(hd, _unit(jt[J["Thumb" + side]] - jt[J["Hand" + side]]))
        o = sk.open_hand[side]
        out.add(Ellipsoid(wr + hd * (62 + 23 * o) * st, fr, np.array([44, 60 + 28 * o, 36 - 12 * o]) * st, skin, lab),
                "Wrist" + side, "Hand" + side, "HandTip" + side, "Thumb" + side)
        out.add(Capsule(jt[J["Hand" + side]], jt[J["Thumb" + side]], 13 * st, skin, lab), "Thumb" + side)
        if o < 0.5:  # a fist: knuckle ridge and curled fingers make it read as a hand
            across, back = fr[:, 0] * 30 * st, fr[:, 2] * 14 * st
            out.add(Capsule(wr + hd * 92 * st + back + across, wr + hd * 92 * st + back - across * 1.1, 17 * st, skin,
                            lab), "HandTip" + side)
            out.add(Capsule(wr + hd * 78 * st - back * 1.6 + across, wr + hd * 74 * st - back * 1.6 - across * 1.1,
                            15 * st, skin, lab), "HandTip" + side)

    def _seat_belt(self, sk: "_Skeleton", out: "_Solids") -> None:
        """From the B-pillar anchor over the outboard shoulder, across the chest and abdomen to the
        inboard hip, laid on the front of the trunk ellipsoids."""
        st = self.subject.stature
        base, up, right, fwd = sk.joints[J["SpineBase"]], sk.up, sk.right, sk.fwd
        parts = self._trunk_parts(sk)

        def on_front(x: float, h: float) -> np.ndarray:
            best = None
            for c, r in parts:
                dy = (h - (c - base) @ up) / r[1]
                q = 1 - (x / r[0]) ** 2 - dy ** 2
                if q > 0:
                    z = (c - base) @ fwd + r[2] * np.sqrt(q)
                    best = z if best is None else max(best, z)
            return base + right * x + up * h + fwd * ((best if best is not None else 60.0) + 9)

        side = self.belt_side
        belt = [np.array([470.0 * side, -880.0, -330.0]) + self.hip,
                sk.joints[J["ShoulderLeft" if side < 0 else "ShoulderRight"]] - side * right * 75 + up * 50]
        belt += [on_front(x, h) for x, h in zip(np.linspace(95, -130, 5) * side * st, np.linspace(440, 130, 5) * st)]
        for a, b in zip(belt[:-1], belt[1:]):
            out.add(Capsule(a, b, 9.0, 0.12, self.label))

    def _head(self, sk: "_Skeleton", gaze: np.ndarray, out: "_Solids") -> list[int]:
        """Head solids posed by the head rotation; the eyes look along ``gaze``. Returns their indices."""
        idx = []
        for name, part in self.head_local:
            moved = part.moved(sk.r_head, sk.head_c)
            moved.label = self.label
            if name.startswith("eye_"):
                moved.pupil_dir = gaze
            idx.append(out.add(moved, "Head"))
        for part in self.glasses_local:
            out.add(part.moved(sk.r_head, sk.head_c))
        return idx

    def _accessories(self, sk: "_Skeleton", phone: bool, out: "_Solids") -> None:
        s = self.subject
        jt, up, right, fwd = sk.joints, sk.up, sk.right, sk.fwd
        if s.scarf:
            out.add(Ellipsoid(jt[J["SpineShoulder"]] + up * 35 + fwd * 25, sk.trunk_axes,
                              np.array([100, 45, 88]) * s.stature, s.cloth * 0.7 + 0.2, LABEL_ACCESSORY))
            out.add(Capsule(jt[J["SpineShoulder"]] + fwd * 95 + right * 40, jt[J["SpineMid"]] + fwd * 125 + right * 55,
                            28, s.cloth * 0.7 + 0.2, LABEL_ACCESSORY))
        if phone:  # in the right hand, screen towards the face
            hd = _unit(jt[J["HandTipRight"]] - jt[J["WristRight"]])
            face_normal = _unit(np.cross(hd, jt[J["ThumbRight"]] - jt[J["HandRight"]]))
            rot = _frame(hd, np.cross(face_normal, hd))
            out.add(Box(jt[J["HandRight"]] + hd * 30 - rot[:, 2] * 25, rot, np.array([35.0, 72.0, 4.5]), 0.08,
                        LABEL_ACCESSORY))


@dataclass
class _Skeleton:
    joints: np.ndarray
    up: np.ndarray
    right: np.ndarray
    fwd: np.ndarray
    r_head: np.ndarray
    head_c: np.ndarray
    open_hand: dict[str, float]  # per side: 0 = fist on the rim, 1 = open hand

    @property
    def trunk_axes(self) -> np.ndarray:
        """x right, y down along the spine, z forward."""
        return np.stack([self.right, -self.up, self.fwd], axis=1)

    def to_car(self, q: np.ndarray) -> np.ndarray:
        """Head-local point -> car frame."""
        return self.r_head @ q + self.head_c


class _Solids:
    """Collects solids and, per joint, which of them carry its surface."""

    def __init__(self) -> None:
        self.prims: list[Primitive] = []
        self.owners: list[list[int]] = [[] for _ in range(25)]

    def add(self, prim: Primitive, *joint_names: str) -> int:
        self.prims.append(prim)
        for name in joint_names:
            self.owners[J[name]].append(len(self.prims) - 1)
        return len(self.prims) - 1
