"""Shared-memory frame ring: round trip through the wire codec, overrun detection, refusal of
foreign or malformed references, cleanup."""
import os

import numpy as np
import pytest

from monitor import shm
from monitor.shm import SHM_DIR, FrameRing, RingReader, remove_segments
from monitor.wire import Message, WireError, decode, encode

pytestmark = pytest.mark.skipif(not shm.available(), reason="no writable /dev/shm")


@pytest.fixture
def ring(request):
    prefix = f"dms-test-{request.node.name[:40]}".replace("[", "-").replace("]", "")
    r = FrameRing(prefix, slots=4)
    yield r
    r.close()
    remove_segments(prefix)


def frameset(i: int) -> Message:
    rng = np.random.default_rng(i)
    return Message("frames", "s", i, float(i), {}, {}, {
        "ir": rng.integers(0, 256, (240, 320), dtype=np.uint8),
        "depth": rng.integers(0, 4000, (240, 320), dtype=np.uint16),
        "small": np.arange(10, dtype=np.float32)})


def test_large_buffers_go_through_the_ring_and_come_back_identical(ring):
    msg = frameset(1)
    parts = encode(msg, ring)
    assert len(parts) == 3  # topic, header, and only the small buffer in the message
    back = decode(parts, RingReader(ring.prefix))
    for name, array in msg.arrays.items():
        np.testing.assert_array_equal(back.arrays[name], array)
        assert back.arrays[name].dtype == array.dtype and not back.arrays[name].flags.writeable


def test_a_receiver_without_a_reader_refuses_ring_messages(ring):
    with pytest.raises(WireError) as info:
        decode(encode(frameset(1), ring))
    assert info.value.kind == "shm_refused"


def test_references_to_another_links_segment_are_refused(ring):
    parts = encode(frameset(1), ring)
    with pytest.raises(WireError) as info:
        decode(parts, RingReader("dms-someone-else"))
    assert info.value.kind == "shm_refused"


def test_an_overwritten_slot_is_detected_not_passed_on(ring):
    reader = RingReader(ring.prefix)
    first = encode(frameset(0), ring)
    for i in range(1, 5):  # 4 slots: message 4 lands in message 0's slot
        encode(frameset(i), ring)
    with pytest.raises(WireError) as info:
        decode(first, reader)
    assert info.value.kind == "shm_overrun"


@pytest.mark.parametrize("change, kind", [
    ({"slot": 99}, "bad_shm_ref"),
    ({"offset": 10**9}, "bad_shm_ref"),
    ({"seq": -1}, "bad_shm_ref"),
    ({"segment": "../../etc/passwd"}, "shm_refused"),
    ({"seq": 12345}, "shm_overrun"),
])
def test_malformed_references_are_rejected_with_their_kind(ring, change, kind):
    import json
    parts = encode(frameset(1), ring)
    header = json.loads(bytes(parts[1]))
    for spec in header["buffers"]:
        if "shm" in spec:
            spec["shm"].update(change)
    with pytest.raises(WireError) as info:
        decode([parts[0], json.dumps(header).encode(), *parts[2:]], RingReader(ring.prefix))
    assert info.value.kind == kind


def test_frames_that_grow_move_to_a_new_segment_and_the_old_one_is_removed(ring):
    reader = RingReader(ring.prefix)
    decode(encode(frameset(1), ring), reader)
    old = ring.name
    big = Message("frames", "s", 2, 2.0, {}, {}, {"ir": np.ones((960, 1280), np.uint8)})
    back = decode(encode(big, ring), reader)
    assert ring.name != old and not (shm.SHM_DIR / old).exists()
    np.testing.assert_array_equal(back.arrays["ir"], big.arrays["ir"])


def test_close_unlinks_the_segment(ring):
    encode(frameset(1), ring)
    path = shm.SHM_DIR / ring.name
    assert path.exists()
    ring.close()
    assert not path.exists()


def test_zero_copy_arrays_are_views_of_the_ring_and_say_when_they_were_overwritten(ring):
    reader = RingReader(ring.prefix)
    msg = frameset(0)
    back = decode(encode(msg, ring), reader, zero_copy=True)
    for name, array in msg.arrays.items():
        np.testing.assert_array_equal(back.arrays[name], array)
        assert not back.arrays[name].flags.writeable
    assert len(back.leases) == 1 and back.intact()  # ir and depth share one slot; "small" is in the message
    ir = back.arrays["ir"]
    for i in range(1, 5):  # 4 slots: message 4 is written over message 0's pixels
        encode(frameset(i), ring)
    assert not back.intact()
    np.testing.assert_array_equal(ir, frameset(4).arrays["ir"])  # really the ring's memory, not a copy
    reader.close()  # views still in use keep their mapping alive: no error, still readable
    assert int(ir.sum()) == int(frameset(4).arrays["ir"].sum())


def test_copied_arrays_stay_valid_after_the_ring_laps(ring):
    reader = RingReader(ring.prefix)
    msg = frameset(0)
    back = decode(encode(msg, ring), reader)
    for i in range(1, 9):
        encode(frameset(i), ring)
    assert back.intact() and back.leases == []
    np.testing.assert_array_equal(back.arrays["depth"], msg.arrays["depth"])


# --- loaned slots: FrameRing.claim, committed by put without a copy ---------------------------

LAYOUT = {"ir": (np.uint8, (240, 320)), "depth": (np.uint16, (240, 320)), "small": (np.float32, (10,))}


def claimed_frameset(ring, i: int) -> tuple[Message, dict]:
    """A frameset written into claimed arrays, and the arrays (the views the ring lent)."""
    lent = ring.claim(LAYOUT)
    for name, array in frameset(i).arrays.items():
        lent[name][...] = array
    return Message("frames", "s", i, float(i), {}, {}, dict(lent)), lent


def test_claimed_views_are_the_rings_memory_and_are_committed_without_a_copy(ring):
    reader = RingReader(ring.prefix)
    encode(frameset(0), ring)  # the segment exists; the claim takes the next slot
    lent = ring.claim(LAYOUT)
    claimed_seq = ring.seq
    assert lent["ir"].flags.writeable and lent["ir"].base is not None  # views into the map ...
    assert lent["small"].base is None  # ... but small arrays stay private (they travel in the message)
    for name, array in frameset(1).arrays.items():  # written after the claim, before the commit
        lent[name][...] = array
    parts = encode(Message("frames", "s", 1, 1.0, {}, {}, dict(lent)), ring)
    assert ring.committed == 1 and ring.seq == claimed_seq  # committed: no second slot taken
    back = decode(parts, reader, zero_copy=True)
    for name, array in frameset(1).arrays.items():
        np.testing.assert_array_equal(back.arrays[name], array)
    assert back.intact() and not lent["ir"].flags.writeable  # published: the producer may not write
    with pytest.raises(ValueError):
        lent["depth"][0, 0] = 1


def test_a_claimed_slot_is_refused_until_it_is_committed(ring):
    reader = RingReader(ring.prefix)
    first = encode(frameset(0), ring)
    for i in range(1, 4):
        encode(frameset(i), ring)
    lent = ring.claim(LAYOUT)  # 4 slots: takes message 0's slot, before a single pixel is written
    with pytest.raises(WireError) as wire_info:
        decode(first, reader)
    assert wire_info.value.kind == "shm_overrun"
    msg = Message("frames", "s", 3, 3.0, {}, {}, dict(lent))
    for name, array in frameset(3).arrays.items():
        lent[name][...] = array
    ref = {"segment": ring.name, "slot": ring.seq % ring.slots, "seq": ring.seq, "offset": 0}
    with pytest.raises(shm.ShmError) as info:  # fully written, but not yet published
        reader.read(ref, np.dtype(np.uint8), [240, 320], 240 * 320)
    assert info.value.kind == "shm_overrun"
    with pytest.raises(shm.ShmError) as info:  # 0 marks a slot being written: never a message's seq
        reader.read({**ref, "seq": 0}, np.dtype(np.uint8), [240, 320], 240 * 320)
    assert info.value.kind == "bad_shm_ref"
    parts = encode(msg, ring)
    assert ring.committed == 1
    np.testing.assert_array_equal(reader.read(ref, np.dtype(np.uint8), [240, 320], 240 * 320), frameset(3).arrays["ir"])
    np.testing.assert_array_equal(decode(parts, reader).arrays["depth"], frameset(3).arrays["depth"])


def test_an_abandoned_claim_is_overwritten_later_and_ordinary_puts_go_on(ring):
    reader = RingReader(ring.prefix)
    _, lent = claimed_frameset(ring, 0)  # never sent
    for i in range(1, 6):  # copies into fresh slots; the 4 slots come round to the abandoned one
        np.testing.assert_array_equal(decode(encode(frameset(i), ring), reader).arrays["ir"], frameset(i).arrays["ir"])
    assert ring.committed == 0
    with pytest.raises(ValueError):  # its slot holds another message now: no more writes ...
        lent["ir"][0, 0] = 1
    with pytest.raises(ValueError, match="taken again"):  # ... and it is not published as ours
        encode(Message("frames", "s", 0, 0.0, {}, {}, dict(lent)), ring)


def test_other_arrays_and_a_partial_claim_take_the_copying_path(ring):
    reader = RingReader(ring.prefix)
    msg, lent = claimed_frameset(ring, 1)
    claimed_slot = ring.seq % ring.slots
    mixed = {**lent, "ir": lent["ir"].copy()}  # one of the claimed views replaced
    back = decode(encode(Message("frames", "s", 1, 1.0, {}, {}, mixed), ring), reader)
    assert ring.committed == 0 and ring.seq % ring.slots != claimed_slot
    for name, array in frameset(1).arrays.items():
        np.testing.assert_array_equal(back.arrays[name], array)


def test_the_ring_grows_and_closes_while_claimed_views_are_alive(ring):
    reader = RingReader(ring.prefix)
    msg, lent = claimed_frameset(ring, 1)
    old = ring.name
    big = Message("frames", "s", 2, 2.0, {}, {}, {"ir": np.ones((960, 1280), np.uint8)})
    np.testing.assert_array_equal(decode(encode(big, ring), reader).arrays["ir"], big.arrays["ir"])  # remap
    assert ring.name != old and not (shm.SHM_DIR / old).exists()
    np.testing.assert_array_equal(lent["ir"], frameset(1).arrays["ir"])  # still mapped, still readable
    assert not lent["ir"].flags.writeable
    back = decode(encode(msg, ring), reader)  # the old claim is gone: its arrays are copied
    assert ring.committed == 0
    np.testing.assert_array_equal(back.arrays["depth"], frameset(1).arrays["depth"])
    _, lent2 = claimed_frameset(ring, 5)
    ring.close()  # views of the current segment are alive: no BufferError, the segment is unlinked
    assert not list(shm.SHM_DIR.glob(ring.prefix + "-*"))
    np.testing.assert_array_equal(lent2["ir"], frameset(5).arrays["ir"])


def test_claims_from_another_thread_while_this_one_commits_and_copies(request):
    import queue
    import threading

    prefix = f"dms-test-threads-{request.node.name[:20]}"
    ring, reader = FrameRing(prefix), RingReader(prefix)  # 32 slots
    handed: queue.Queue = queue.Queue(maxsize=4)  # bounds claims in flight well below the slots
    n = 300

    def camera() -> None:  # a callback thread: claims and fills, the capture thread commits
        for i in range(n):
            lent = ring.claim(LAYOUT)
            lent["ir"].fill(i % 251)
            lent["depth"].fill(i)
            lent["small"].fill(i)
            handed.put((i, lent))

    thread = threading.Thread(target=camera)
    thread.start()
    try:
        for _ in range(n):
            i, lent = handed.get(timeout=10)
            back = decode(encode(Message("frames", "s", i, 0.0, {}, {}, lent), ring), reader)
            assert (back.arrays["ir"] == i % 251).all() and (back.arrays["depth"] == i).all()
            other = frameset(i)  # an ordinary put between commits, under the same lock
            np.testing.assert_array_equal(decode(encode(other, ring), reader).arrays["depth"], other.arrays["depth"])
        thread.join(10)
        assert ring.committed == n
    finally:
        ring.close()
        remove_segments(prefix)


def test_a_recording_is_read_straight_into_claimed_slots(ring, tmp_path):
    from monitor.recording import RecordingReader, RecordingWriter

    with RecordingWriter(tmp_path / "r.dmsrec") as writer:
        for i in range(6):  # more records than slots
            writer.write(frameset(i))
    reader = RingReader(ring.prefix)
    with RecordingReader(tmp_path / "r.dmsrec") as recording:
        for i, msg in enumerate(recording.messages(ring.claim)):
            assert msg.arrays["ir"].flags.writeable  # the lent view itself, not decode's read-only copy
            back = decode(encode(msg, ring), reader)
            assert ring.committed == i + 1
            for name, array in frameset(i).arrays.items():
                np.testing.assert_array_equal(back.arrays[name], array)


def test_a_record_declaring_more_bytes_than_the_file_holds_gets_no_slot(tmp_path):
    import json

    from monitor.recording import RecordingError, RecordingReader, RecordingWriter

    header = {"schema": 1, "stream": "s", "frame": 0, "device_ts_ms": 0.0, "stamps": {}, "meta": {},
              "buffers": [{"name": "ir", "dtype": "uint8", "shape": [4000, 4000]}]}
    with RecordingWriter(tmp_path / "r.dmsrec") as writer:
        writer.write_parts([b"frames", json.dumps(header).encode(), b"x" * 100])
    asked = []
    with RecordingReader(tmp_path / "r.dmsrec") as recording, pytest.raises(RecordingError, match="size_mismatch"):
        list(recording.messages(lambda layout: asked.append(layout) or {}))
    assert asked == []


def test_committed_views_cannot_be_sent_again_once_their_slot_is_reused():
    ring = FrameRing(f"dms-test-reuse-{os.getpid()}", slots=4)
    try:
        big = np.full((300, 300), 7, np.uint16)
        views = ring.claim({"depth": (np.uint16, big.shape)})
        views["depth"][:] = big
        first = ring.put(views)
        assert first["depth"]["slot"] == ring.seq % ring.slots
        assert ring.put(views)["depth"]["seq"] == ring.seq  # slot still holds it: copied, fine
        for _ in range(4):
            ring.put({"depth": np.zeros_like(big)})  # the ring comes round to the first slot
        with pytest.raises(ValueError, match="taken again"):
            ring.put(views)
    finally:
        ring.close()


def test_a_closed_ring_lends_private_arrays_and_puts_nothing():
    ring = FrameRing(f"dms-test-closed-{os.getpid()}", slots=4)
    ring.put({"depth": np.zeros((300, 300), np.uint16)})
    ring.close()
    views = ring.claim({"depth": (np.uint16, (300, 300))})
    views["depth"][:] = 1  # private, writable
    assert ring.put(views) == {}
    assert not list(SHM_DIR.glob(f"dms-test-closed-{os.getpid()}*"))
