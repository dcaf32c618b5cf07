"""Evaluation helpers: dwell mask, confusion matrix, event matching."""
import numpy as np
import pytest

from monitor.gaze.evaluate import confusion_matrix, dwell_mask, match_events
from monitor.gaze.types import DistractionEvent


def test_dwell_mask_excludes_transitions():
    truth = ["road"] * 10 + ["left_mirror"] * 10
    t = np.arange(20) * 0.1
    m = dwell_mask(truth, t, margin_s=0.25)
    assert m.tolist() == [False] * 3 + [True] * 4 + [False] * 6 + [True] * 4 + [False] * 3


def test_confusion_matrix():
    truth = ["road", "road", "dashboard", "dashboard", "road"]
    pred = ["road", "other", "dashboard", "road", "road"]
    cm = confusion_matrix(truth, pred, ["road", "dashboard"])
    assert cm["labels"] == ["road", "dashboard", "other"]
    assert cm["matrix"] == [[2, 0, 1], [1, 1, 0], [0, 0, 0]]
    assert cm["accuracy"] == pytest.approx(0.6) and cm["n"] == 5
    assert confusion_matrix(truth, pred, mask=[True, False, True, False, True])["accuracy"] == 1.0
    with pytest.raises(ValueError):
        confusion_matrix(truth, pred[:-1])


def test_match_events():
    ev = [DistractionEvent("long_distraction", "start", 10.1, 13.1, 13.1),
          DistractionEvent("long_distraction", "end", 10.1, 13.1, 15.0, 15.0),
          DistractionEvent("long_distraction", "start", 40.0, 43.0, 43.0),
          DistractionEvent("vats", "start", 50.0, 60.0, 60.0)]
    m = match_events(ev, [10.0, 25.0], "long_distraction", tol_s=0.3)
    assert m.matched == [(10.0, 10.1)] and m.missed == [25.0] and m.false == [40.0]
    assert m.max_start_error_s == pytest.approx(0.1)
    assert match_events(ev, [60.05], "vats", field="criterion_met_s").matched == [(60.05, 60.0)]
