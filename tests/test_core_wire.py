"""Wire codec: round trip, validation of every field, and a property-based fuzz of the decoder."""
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor import wire
from monitor.wire import Message, WireError, decode, encode


def sample_message() -> Message:
    return Message("frames", "cam0", 42, 1234.5, {"capture.in": 10, "capture.out": 20}, {"k": [1, 2]},
                   {"ir": np.arange(12, dtype=np.uint8).reshape(3, 4),
                    "depth": np.arange(6, dtype=np.uint16).reshape(2, 3),
                    "pts": np.linspace(0, 1, 6, dtype=np.float32).reshape(2, 3)})


def test_round_trip_preserves_everything():
    msg = sample_message()
    back = decode([bytes(memoryview(p)) for p in encode(msg)])
    assert (back.topic, back.stream, back.frame, back.device_ts_ms) == ("frames", "cam0", 42, 1234.5)
    assert back.stamps == msg.stamps and back.meta == msg.meta
    for name, array in msg.arrays.items():
        assert back.arrays[name].dtype == array.dtype
        np.testing.assert_array_equal(back.arrays[name], array)


def test_big_endian_and_strided_arrays_travel_as_little_endian_contiguous():
    base = np.arange(40, dtype=">u2").reshape(5, 8)
    msg = Message("frames", "s", 1, 0.0, {}, {}, {"d": base[:, ::2]})
    back = decode(encode(msg))
    np.testing.assert_array_equal(back.arrays["d"], base[:, ::2])
    assert back.arrays["d"].dtype == np.dtype("<u2")


def test_decoded_arrays_are_read_only():
    back = decode(encode(sample_message()))
    with pytest.raises(ValueError):
        back.arrays["ir"][0, 0] = 1


def test_refuses_to_encode_object_arrays():
    with pytest.raises(ValueError, match="cannot travel"):
        encode(Message("frames", "s", 1, 0.0, {}, {}, {"o": np.array([object()])}))


def _parts(header_changes=None, buffers=None, topic=b"frames"):
    header = {"schema": 1, "stream": "s", "frame": 1, "device_ts_ms": 0.0, "stamps": {}, "meta": {},
              "buffers": [{"name": "ir", "dtype": "uint8", "shape": [2, 2]}]}
    header.update(header_changes or {})
    return [topic, json.dumps(header).encode(), *(buffers if buffers is not None else [b"\0" * 4])]


@pytest.mark.parametrize("parts, kind", [
    ([b"frames"], "too_few_parts"),
    (_parts(topic=b"evil"), "unknown_topic"),
    ([b"frames", b"{not json"], "bad_header_json"),
    ([b"frames", b"[1, 2]"], "bad_header"),
    (_parts({"schema": 2}), "schema_version"),
    (_parts({"frame": "one"}), "bad_header"),
    (_parts({"stamps": {"a": 1.5}}), "bad_header"),
    (_parts(buffers=[]), "buffer_count"),
    (_parts({"buffers": [{"name": "ir", "dtype": "object", "shape": [2, 2]}]}), "bad_dtype"),
    (_parts({"buffers": [{"name": "ir", "dtype": "uint8", "shape": [2, -2]}]}), "bad_shape"),
    (_parts({"buffers": [{"name": "ir", "dtype": "uint8", "shape": [1, 1, 1, 1, 4]}]}), "bad_shape"),
    (_parts({"buffers": [{"name": "ir", "dtype": "uint16", "shape": [2, 2]}]}), "size_mismatch"),
    (_parts({"buffers": [{"name": "ir", "dtype": "uint8", "shape": [2**20, 2**20]}]}), "buffer_too_big"),
    (_parts({"buffers": [{"dtype": "uint8", "shape": [2, 2]}]}), "bad_buffer_spec"),
    ([b"frames", b" " * (wire.MAX_HEADER_BYTES + 1)], "header_too_big"),
])
def test_each_violation_has_its_kind(parts, kind):
    with pytest.raises(WireError) as info:
        decode(parts)
    assert info.value.kind == kind


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=256), min_size=0, max_size=6))
def test_random_parts_only_ever_raise_wire_error(parts):
    try:
        decode(parts)
    except WireError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_truncated_or_flipped_valid_messages_only_ever_raise_wire_error(data):
    parts = [bytes(memoryview(p)) for p in encode(sample_message())]
    index = data.draw(st.integers(0, len(parts) - 1))
    cut = data.draw(st.integers(0, len(parts[index])))
    mutated = parts[:index] + [parts[index][:cut]] + parts[index + 1:]
    if data.draw(st.booleans()) and mutated[index]:
        position = data.draw(st.integers(0, len(mutated[index]) - 1))
        flipped = bytearray(mutated[index])
        flipped[position] ^= data.draw(st.integers(1, 255))
        mutated[index] = bytes(flipped)
    mutated = mutated[: data.draw(st.integers(0, len(mutated)))]
    try:
        msg = decode(mutated)
    except WireError:
        return
    for array in msg.arrays.values():  # whatever got through is internally consistent
        assert array.nbytes == int(np.prod(array.shape)) * array.itemsize


def test_ground_truth_travels_as_json_text_and_comes_back_as_an_object():
    from monitor.frames import FrameSet
    from monitor.validate import truth_from_meta
    truth = {"head": {"yaw_deg": 12.5}, "gaze_zone": "road", "joints": [[1.0, 2.0]] * 3}
    fs = FrameSet("s", 3, 100.0, {"ir": np.zeros((4, 4), np.uint8)}, truth=truth)
    msg = fs.to_message({})
    assert isinstance(msg.meta["truth_json"], str) and "truth" not in msg.meta  # stages pass it on unparsed
    back = FrameSet.from_message(decode([p if isinstance(p, bytes) else bytes(p) for p in encode(msg)]))
    assert back.truth == truth
    assert truth_from_meta({"truth": truth}) == truth  # recordings from before: an object
    assert truth_from_meta({}) is None
    for bad in ({"truth_json": "[1, 2]"}, {"truth_json": "{not json"}, {"truth_json": 5}, {"truth": "text"}):
        with pytest.raises(WireError) as info:
            truth_from_meta(bad)
        assert info.value.kind == "bad_truth"
    with pytest.raises(ValueError, match="frame 3"):
        FrameSet.from_message(Message("frames", "s", 3, 0.0, {}, {"truth_json": "{"}, {}))


def test_truth_read_from_a_message_is_sent_on_as_the_same_text():
    from monitor.frames import FrameSet
    text = '{"gaze_zone": "road",  "head": {"yaw_deg": 1.0}}'  # not how json.dumps would write it
    fs = FrameSet.from_message(Message("frames", "s", 1, 0.0, {}, {"truth_json": text}, {}))
    assert fs.truth == {"gaze_zone": "road", "head": {"yaw_deg": 1.0}}
    assert fs.to_message({}).meta["truth_json"] == text


def test_intrinsics_dict_names_every_field_and_round_trips():
    """to_dict is spelled out for speed: a field added to Intrinsics must be added there too."""
    import dataclasses

    from monitor.frames import Intrinsics

    intr = Intrinsics(848, 480, 421.5, 422.25, 423.0, 239.5, (0.1, -0.2, 0.001, 0.002, 0.03))
    d = intr.to_dict()
    assert set(d) == {f.name for f in dataclasses.fields(Intrinsics)}
    assert json.loads(json.dumps(d)) == d  # plain JSON types only
    assert Intrinsics.from_dict(d) == intr
