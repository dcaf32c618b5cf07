"""Which delivery policy the links into the display use (capture -> display, gaze -> display)."""
from __future__ import annotations

from typing import Any

from monitor.bus import Policy


def display_link_policy(config: Any) -> Policy:
    """Live (newest only, never slows the pipeline) unless a replay run writes overlay.mp4: then
    the video is part of the run's lossless output, like the recorder, and gets every frame
    (backpressure applies: the replay runs no faster than the overlay is drawn and encoded)."""
    if getattr(config, "video", False) and Policy(config.policy) is Policy.REPLAY:
        return Policy.REPLAY
    return Policy.LIVE
