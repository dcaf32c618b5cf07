"""Shared-memory frame ring: round trip through the wire codec, overrun detection, refusal of
foreign or malformed references, cleanup."""
import numpy as np
import pytest

from monitor import shm
from monitor.shm import FrameRing, RingReader, remove_segments
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
