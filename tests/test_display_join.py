"""FrameJoiner: frames and states joined by (stream, frame), newest shown, skips counted."""
import pytest

from monitor.display.join import FrameJoiner


def test_in_order_pairs_join_one_for_one():
    j = FrameJoiner()
    for f in range(5):
        assert j.add_frame("s", f, f"frame{f}") is None
        assert j.add_state("s", f, f"state{f}") == (f"frame{f}", f"state{f}")
    assert j.stats.to_json() == {"joined": 5, "skipped_frames": 0, "gaps": 0, "unmatched_states": 0}


def test_state_before_its_frame_still_joins():
    j = FrameJoiner()
    assert j.add_state("s", 0, "st0") is None
    assert j.add_frame("s", 0, "fr0") == ("fr0", "st0")
    assert j.frames_waiting == j.states_waiting == 0


def test_newest_complete_frame_wins_and_older_waiting_frames_are_counted():
    j = FrameJoiner()
    for f in range(4):
        j.add_frame("s", f, f)
    assert j.add_state("s", 3, "st3") == (3, "st3")
    assert j.stats.skipped_frames == 3 and j.frames_waiting == 0
    assert j.add_state("s", 1, "late") is None  # older than what is shown: never joined
    assert j.stats.unmatched_states == 1
    assert j.add_frame("s", 2, "late frame") is None
    assert j.stats.skipped_frames == 4


def test_gaps_in_frame_ids_are_counted_per_stream():
    j = FrameJoiner()
    for f in (0, 1, 5, 6, 10):
        j.add_frame("a", f, f)
    j.add_frame("b", 0, 0)
    j.add_frame("b", 2, 2)
    assert j.stats.gaps == 3 + 3 + 1


def test_streams_do_not_skip_each_other():
    j = FrameJoiner()
    j.add_frame("a", 7, "a7")
    j.add_frame("b", 3, "b3")
    assert j.add_state("b", 3, "sb3") == ("b3", "sb3")
    assert j.add_state("a", 7, "sa7") == ("a7", "sa7")
    assert j.stats.skipped_frames == 0


def test_capacity_bounds_memory_and_counts_evictions():
    j = FrameJoiner(capacity=3)
    for f in range(10):
        j.add_frame("s", f, f)
    assert j.frames_waiting == 3 and j.stats.skipped_frames == 7
    for f in range(100, 110):
        j.add_state("s", f, f)
    assert j.states_waiting == 3 and j.stats.unmatched_states == 7


def test_finish_counts_what_never_got_its_other_half():
    j = FrameJoiner()
    j.add_frame("s", 0, 0)
    j.add_frame("s", 1, 1)
    j.add_state("s", 5, 5)
    j.finish()
    assert j.stats.skipped_frames == 2 and j.stats.unmatched_states == 1
    assert j.frames_waiting == j.states_waiting == 0


def test_every_received_frame_is_either_joined_or_skipped():
    # the display's accounting identity: received frames = joined + skipped
    import random
    rng = random.Random(3)
    j = FrameJoiner(capacity=8)
    received = 0
    for f in range(500):
        if rng.random() < 0.8:
            j.add_frame("s", f, f)
            received += 1
        if rng.random() < 0.6:
            j.add_state("s", f - rng.randrange(0, 4), None)
    j.finish()
    assert j.stats.joined + j.stats.skipped_frames == received


def test_capacity_must_be_positive():
    with pytest.raises(ValueError, match="capacity"):
        FrameJoiner(capacity=0)
