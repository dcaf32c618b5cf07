"""Seeded behaviour timelines: glances, head sweeps, hand activities and distraction episodes.

A `Timeline` is a plan with exactly known timing, built once; ``sample(t)`` turns it into the
occupant's `Pose` plus the labels that belong to that instant (gaze zone, activity, episodes).
Glance model: on a glance the eyes+head gaze reaches the target after ``shift_s`` (the zone is null
while in transit), the head keeps turning until ``head_s`` and takes ``head_share`` of the angle;
the eyes make up the rest.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from monitor.geometry import euler_to_matrix
from synth.cabin import GAZE_TARGETS, GAZE_ZONES, WHEEL
from synth.occupant import R_CAR_HEAD_NEUTRAL, Pose

SCENARIOS = ("drive", "gaze", "sweeps", "activities", "vats", "random", "hands")
# hand actions done with the left hand (the others use the right); "hands" scenes draw from
# FACE_HANDS, the hand-to-face actions (training data for the face-cover model: train.face_cover_data)
LEFT_HAND_ACTIONS = ("hand_near_face", "chin_on_hand")
FACE_HANDS = ("hand_near_face", "hand_near_face_right", "hand_over_mouth", "chin_on_hand", "phone_to_ear")
EYE_POINT = np.array([0.0, -655.0, -95.0])  # nominal eye midpoint of a driver looking ahead
# realistic head share of a glance (rest by the eyes) and dwell times, per target
HEAD_SHARE = {"left_mirror": 0.55, "right_mirror": 0.7, "rear_mirror": 0.6, "dashboard": 0.35,
              "road": 0.8, "media_centre": 0.55}
DWELL_S = {"left_mirror": (0.6, 1.4), "right_mirror": (0.7, 1.5), "rear_mirror": (0.5, 1.2),
           "dashboard": (0.5, 1.2), "road": (2.0, 5.0), "media_centre": (0.8, 2.0)}


def target_angles(name: str, eye: np.ndarray = EYE_POINT) -> tuple[float, float]:
    """Gaze (yaw, pitch) in degrees, car-relative, from the eye point to a target's centre."""
    v = np.asarray(GAZE_TARGETS[name].center_mm) - eye
    v = v / np.linalg.norm(v)
    return float(np.degrees(np.arctan2(v[0], v[2]))), float(np.degrees(np.arcsin(v[1])))


def _smooth(x: np.ndarray | float) -> np.ndarray | float:
    """Minimum-jerk profile on [0, 1]."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * x * (10 - 15 * x + 6 * x * x)


@dataclass(frozen=True)
class Fixation:
    target: str
    start_s: float     # the gaze starts moving towards the target
    arrive_s: float    # the gaze is on the target (zone label from here)
    leave_s: float     # the gaze starts to move away
    head_share: float
    head_s: float      # duration of the head movement


@dataclass(frozen=True)
class Sweep:
    axis: str          # yaw | pitch | roll
    start_s: float
    end_s: float
    amplitude_deg: float


@dataclass(frozen=True)
class HandAction:
    kind: str          # hand_near_face | phone_to_ear | reach_media_centre | the other FACE_HANDS
    start_s: float
    end_s: float
    ramp_s: float = 0.7


@dataclass(frozen=True)
class Episode:
    kind: str          # long_distraction | vats
    start_s: float
    end_s: float
    glances: tuple[tuple[float, float], ...] = ()
    trigger_s: float | None = None

    def to_json(self) -> dict:
        d = {"kind": self.kind, "start_s": round(self.start_s, 6), "end_s": round(self.end_s, 6)}
        if self.glances:
            d["glances"] = [[round(a, 6), round(b, 6)] for a, b in self.glances]
        if self.trigger_s is not None:
            d["trigger_s"] = round(self.trigger_s, 6)
        return d


@dataclass
class Timeline:
    duration_s: float
    fixations: list[Fixation] = field(default_factory=list)
    sweeps: list[Sweep] = field(default_factory=list)
    hands: list[HandAction] = field(default_factory=list)
    episodes: list[Episode] = field(default_factory=list)
    micro: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))  # (channel, amp, freq, phase)
    eye_point: np.ndarray = field(default_factory=lambda: EYE_POINT.copy())

    # ---- sampling -------------------------------------------------------------------------
    def zone(self, t: float) -> str | None:
        if any(s.start_s <= t < s.end_s for s in self.sweeps):
            return None
        for f in self.fixations:
            if f.arrive_s <= t < f.leave_s:
                return f.target
        return None

    def _micro(self, t: float) -> np.ndarray:
        out = np.zeros(6)
        for ch, amp, freq, ph in self.micro:
            out[int(ch)] += amp * np.sin(2 * np.pi * freq * t + ph)
        return out  # head yaw, pitch, roll, torso lean, steering clock, torso twist

    def _gaze(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """(head yaw/pitch, gaze yaw/pitch) at time t from the fixation plan."""
        fx = self.fixations
        if not fx:
            road = np.array(target_angles("road", self.eye_point))
            return road * HEAD_SHARE["road"], road
        idx = 0
        for i, f in enumerate(fx):
            if f.start_s <= t:
                idx = i
        cur = fx[idx]
        prev = fx[idx - 1] if idx > 0 else cur
        a_cur = np.array(target_angles(cur.target, self.eye_point))
        a_prev = np.array(target_angles(prev.target, self.eye_point))
        g = _smooth((t - cur.start_s) / max(cur.arrive_s - cur.start_s, 1e-6)) if t >= cur.start_s else 0.0
        h = _smooth((t - cur.start_s) / cur.head_s) if t >= cur.start_s else 0.0
        gaze = a_prev + (a_cur - a_prev) * g
        head = a_prev * prev.head_share + (a_cur * cur.head_share - a_prev * prev.head_share) * h
        return head, gaze

    def sample(self, t: float) -> tuple[Pose, dict]:
        m = self._micro(t)
        head_yp, gaze_yp = self._gaze(t)
        yaw, pitch, roll = head_yp[0] + m[0], head_yp[1] + m[1], m[2]
        activity = "driving"
        sweeping = False
        for s in self.sweeps:
            if s.start_s <= t < s.end_s:
                # one full cycle 0 -> +A -> -A -> 0, smooth at both ends
                ph = (t - s.start_s) / (s.end_s - s.start_s)
                val = s.amplitude_deg * np.sin(2 * np.pi * ph) * _smooth(min(ph, 1 - ph) * 8)
                val = float(np.clip(val, -s.amplitude_deg, s.amplitude_deg))
                yaw, pitch, roll = {"yaw": (val, 0, 0), "pitch": (0, val, 0), "roll": (0, 0, val)}[s.axis]
                activity, sweeping = f"sweep_{s.axis}", True
        # eyes: what the head does not cover of the gaze direction
        if sweeping:
            eye_yp = (0.0, 0.0)
        else:
            gy, gp = np.radians(gaze_yp)
            v = np.array([np.cos(gp) * np.sin(gy), np.sin(gp), np.cos(gp) * np.cos(gy)])
            r_head = R_CAR_HEAD_NEUTRAL @ euler_to_matrix(yaw, pitch, roll)
            d = r_head.T @ v
            eye_yp = (float(np.clip(np.degrees(np.arctan2(-d[0], -d[2])), -35, 35)),
                      float(np.clip(np.degrees(np.arcsin(np.clip(d[1], -1, 1))), -30, 30)))
        clock = 60.0 + m[4]
        wl, wr = WHEEL.rim_point(-clock), WHEEL.rim_point(clock)  # grip points on the rim
        pose = Pose(head_ypr=(yaw, pitch, roll), eye_yp=eye_yp, torso=(m[3], 0.0, m[5]),
                    wrist_left=wl, wrist_right=wr)
        hand_goal = pose.hand_goals
        for a in self.hands:
            if a.start_s <= t < a.end_s:
                w = min(_smooth((t - a.start_s) / a.ramp_s), _smooth((a.end_s - t) / a.ramp_s))
                hand_goal["left" if a.kind in LEFT_HAND_ACTIONS else "right"] = (a.kind, float(w))
                activity = a.kind
                if a.kind == "phone_to_ear":
                    pose.head_ypr = (pose.head_ypr[0], pose.head_ypr[1], pose.head_ypr[2] - 12 * w)
                    pose.phone = w > 0.3
                if a.kind == "reach_media_centre":
                    pose.torso = (pose.torso[0] + 8 * w, pose.torso[1] + 6 * w, pose.torso[2] + 10 * w)
        ep = [e.to_json() for e in self.episodes if e.start_s <= t < e.end_s]
        info = {"zone": self.zone(t), "activity": activity, "episodes": ep, "hand_goal": hand_goal,
                "gaze_target_yp": [float(gaze_yp[0]), float(gaze_yp[1])]}
        return pose, info


class Planner:
    """Builds timelines; every random choice comes from one seeded generator."""

    def __init__(self, rng: np.random.Generator, eye_point: np.ndarray = EYE_POINT) -> None:
        self.rng = rng
        self.t = 0.0
        self.tl = Timeline(0.0, eye_point=eye_point)
        self.current = "road"
        self._micro()
        self.tl.fixations.append(Fixation("road", -1.0, -1.0, 1e9, HEAD_SHARE["road"], 0.5))

    def _micro(self) -> None:
        r = self.rng
        rows = []
        for ch, amp in ((0, 1.2), (1, 1.0), (2, 0.8), (3, 1.5), (4, 6.0), (5, 1.5)):
            for _ in range(3):
                rows.append((ch, amp * r.uniform(0.3, 1.0), r.uniform(0.05, 0.6), r.uniform(0, 2 * np.pi)))
        self.tl.micro = np.array(rows)

    def glance(self, target: str, dwell_s: float | None = None) -> tuple[float, float]:
        """Move the gaze to ``target`` and hold it; returns (start of the move, arrival)."""
        if target not in GAZE_ZONES:
            raise ValueError(f"unknown gaze target {target!r}: use one of {GAZE_ZONES}")
        r = self.rng
        a0 = np.array(target_angles(self.current, self.tl.eye_point))
        a1 = np.array(target_angles(target, self.tl.eye_point))
        amp = float(np.linalg.norm(a1 - a0))
        shift = 0.12 + 0.0035 * amp + r.uniform(0.0, 0.06)
        head_s = shift + 0.2 + 0.004 * amp
        dwell = float(r.uniform(*DWELL_S[target])) if dwell_s is None else dwell_s
        start = self.t
        last = self.tl.fixations[-1]
        self.tl.fixations[-1] = Fixation(last.target, last.start_s, last.arrive_s, start, last.head_share, last.head_s)
        share = float(np.clip(HEAD_SHARE[target] + r.normal(0, 0.08), 0.2, 0.95))
        self.tl.fixations.append(Fixation(target, start, start + shift, 1e9, share, head_s))
        self.t = start + shift + dwell
        self.current = target
        return start, start + shift

    def drive(self, seconds: float) -> None:
        """Eyes on the road (returns there first)."""
        if self.current != "road":
            self.glance("road", seconds)
        else:
            self.t += seconds

    def sweep(self, axis: str, amplitude: float, seconds: float) -> None:
        if self.current != "road":
            self.glance("road", 0.5)
        self.tl.sweeps.append(Sweep(axis, self.t, self.t + seconds, amplitude))
        self.t += seconds + 0.3

    def hand(self, kind: str, seconds: float, glance_to: str | None = None) -> None:
        start = self.t
        self.tl.hands.append(HandAction(kind, start, start + seconds))
        if glance_to:
            self.t += 0.3
            self.glance(glance_to, seconds - 0.9)
            self.glance("road", 0.0)
        self.t = max(self.t, start + seconds)

    def long_distraction(self, target: str = "media_centre", off_s: float | None = None, reach: bool = True) -> Episode:
        """Gaze off the road for >= 3 s (Euro NCAP long distraction); timing exact in the label."""
        off = float(self.rng.uniform(3.3, 4.5)) if off_s is None else off_s
        if self.current != "road":
            self.glance("road", 1.0)
        start = self.t
        if reach:
            self.tl.hands.append(HandAction("reach_media_centre", start + 0.2, start + off))
        _, arrive = self.glance(target)
        self.t = start + off - 0.3  # leave so that the road is reached at start + off
        _, back = self.glance("road", 0.0)
        ep = Episode("long_distraction", start, back)
        self.tl.episodes.append(ep)
        return ep

    def vats(self, n: int | None = None) -> Episode:
        """Short glances (each < 3 s) adding up to > 10 s off-road within 30 s (Euro NCAP VATS)."""
        r = self.rng
        n = n or int(r.integers(6, 8))
        if self.current != "road":
            self.glance("road", 1.0)
        glances = []
        for _ in range(n):
            target = str(r.choice(["media_centre", "dashboard", "media_centre"]))
            start, _ = self.glance(target, float(r.uniform(1.4, 2.1)))
            _, back = self.glance("road", float(r.uniform(0.8, 1.6)))
            glances.append((start, back))
        # the moment the off-road time inside the trailing 30 s window first exceeds 10 s
        trigger, total = None, 0.0
        for a, b in glances:
            if total + (b - a) > 10.0:
                trigger = a + (10.0 - total)
                break
            total += b - a
        ep = Episode("vats", glances[0][0], glances[-1][1], tuple(glances), trigger)
        self.tl.episodes.append(ep)
        return ep

    def finish(self, tail_s: float = 1.0) -> Timeline:
        self.drive(tail_s)
        self.tl.duration_s = self.t
        return self.tl


def build_timeline(scenario: str, seed: int, eye_point: np.ndarray = EYE_POINT,
                   duration_s: float | None = None) -> Timeline:
    """A scripted, seeded timeline. ``drive`` (the default) visits every gaze zone and contains one
    long-distraction episode in ~25 s."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}: use one of {SCENARIOS}")
    rng = np.random.default_rng([11, seed])
    p = Planner(rng, eye_point)
    if scenario == "drive":
        p.drive(1.5)
        for target in ("left_mirror", "dashboard", "rear_mirror", "right_mirror"):
            p.glance(target)
            p.drive(float(rng.uniform(1.5, 2.5)))
        p.hand("hand_near_face", 2.5)
        p.drive(1.0)
        p.long_distraction("media_centre")
        p.drive(2.0)
    elif scenario == "gaze":
        targets = [z for z in GAZE_ZONES if z != "road"] * 2
        rng.shuffle(targets)
        p.drive(1.0)
        for target in targets:
            p.glance(target)
            p.drive(float(rng.uniform(1.0, 3.0)))
    elif scenario == "sweeps":
        p.drive(0.5)
        for axis, amp in (("yaw", 90.0), ("pitch", 90.0), ("roll", 90.0)):
            p.sweep(axis, amp, float(rng.uniform(5.0, 7.0)))
    elif scenario == "activities":
        p.drive(1.0)
        p.hand("hand_near_face", float(rng.uniform(2.5, 4.0)))
        p.drive(1.0)
        p.hand("phone_to_ear", float(rng.uniform(4.0, 6.0)))
        p.drive(1.0)
        p.hand("reach_media_centre", float(rng.uniform(2.5, 3.5)), glance_to="media_centre")
        p.drive(1.0)
    elif scenario == "vats":
        p.drive(1.5)
        p.vats()
        p.drive(1.5)
    elif scenario == "hands":  # hand-to-face actions of either hand, with glances between
        target_len = duration_s or 24.0
        p.drive(1.0)
        while p.t < target_len:
            p.hand(str(rng.choice(FACE_HANDS)), float(rng.uniform(2.0, 4.0)))
            if rng.random() < 0.5:
                p.glance(str(rng.choice(GAZE_ZONES)))
            p.drive(float(rng.uniform(0.5, 1.5)))
    else:  # random: a mixture for training sets
        target_len = duration_s or 30.0
        while p.t < target_len:
            k = rng.random()
            if k < 0.45:
                p.glance(str(rng.choice(GAZE_ZONES)))
            elif k < 0.6:
                p.sweep(str(rng.choice(["yaw", "pitch", "roll"])), float(rng.uniform(30, 90)), float(rng.uniform(3, 6)))
            elif k < 0.8:
                p.hand(str(rng.choice(["hand_near_face", "phone_to_ear", "reach_media_centre"])),
                       float(rng.uniform(2.0, 4.0)))
            elif k < 0.9:
                p.long_distraction(str(rng.choice(["media_centre", "dashboard", "right_mirror"])))
            else:
                p.drive(float(rng.uniform(0.5, 2.0)))
    tl = p.finish()
    if duration_s is not None:
        tl.duration_s = duration_s
    return tl
