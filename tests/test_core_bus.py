"""Links over real ZeroMQ sockets: malformed traffic is counted, live keeps the newest,
replay is lossless and ordered under backpressure."""
import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor import shm
from monitor.bus import Endpoints, Policy, Receiver, Sender
from monitor.shm import FrameRing
from monitor.wire import Message


@pytest.fixture
def endpoints():
    ep = Endpoints.create_private()
    yield ep
    ep.remove()


@pytest.fixture
def ctx():
    context = zmq.Context()
    yield context
    context.destroy(linger=0)


def frame(i: int, size: int = 64) -> Message:
    return Message("frames", "s", i, float(i), {"capture.out": time.monotonic_ns()}, {},
                   {"ir": np.full((size, size), i % 256, np.uint8)})


def test_private_run_directory_is_only_for_this_user(endpoints):
    import os
    import stat
    assert stat.S_IMODE(os.stat(endpoints.directory).st_mode) == 0o700


def test_tcp_endpoints_get_distinct_ports():
    ep = Endpoints("tcp", base_port=6000)
    assert ep.address("a") == "tcp://127.0.0.1:6000" and ep.address("b") == "tcp://127.0.0.1:6001"
    assert ep.address("a") == "tcp://127.0.0.1:6000"


def test_malformed_messages_are_dropped_counted_and_the_loop_goes_on(ctx, endpoints):
    address = endpoints.address("fuzz")
    receiver_sock = ctx.socket(zmq.PUSH)
    receiver_sock.bind(address)
    rx = Receiver(ctx, address, Policy.REPLAY, hwm=1000)
    bad = [[b"garbage"], [b"frames", b"{}"], [b"frames", b"\xff\xfe"], [b"nope", b"{}", b"x"]]
    for parts in bad:
        receiver_sock.send_multipart(parts)
    from monitor.wire import encode
    receiver_sock.send_multipart(encode(frame(7)))
    got = None
    deadline = time.monotonic() + 5
    while got is None and time.monotonic() < deadline:
        got = rx.recv(100)
    assert got is not None and got.frame == 7
    assert sum(rx.stats.bad.values()) == len(bad)
    assert set(rx.stats.bad) == {"too_few_parts", "schema_version", "bad_header_json", "unknown_topic"}
    rx.close()
    receiver_sock.close(0)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(st.binary(max_size=64), min_size=1, max_size=5), min_size=1, max_size=30))
def test_fuzzed_socket_traffic_never_escapes_the_receive_loop(ctx, endpoints, batch):
    address = endpoints.address(f"fuzz{time.monotonic_ns()}")
    push = ctx.socket(zmq.PUSH)
    push.bind(address)
    rx = Receiver(ctx, address, Policy.REPLAY, hwm=1000)
    for parts in batch:
        push.send_multipart(parts)
    seen = 0
    deadline = time.monotonic() + 5
    while seen < len(batch) and time.monotonic() < deadline:
        msg = rx.recv(20)
        seen = rx.stats.received + sum(rx.stats.bad.values())
        assert msg is None or msg.topic in ("frames", "estimates", "states", "eos")
    assert seen == len(batch)
    rx.close()
    push.close(0)


def test_live_consumer_gets_the_newest_item_and_superseded_ones_are_counted(ctx, endpoints):
    address = endpoints.address("live")
    tx = Sender(ctx, address, Policy.LIVE)
    rx = Receiver(ctx, address, Policy.LIVE)
    assert rx.recv(50) is None  # nothing yet; this also hands the producer a credit
    time.sleep(0.2)
    for i in range(50):  # a burst while the consumer is busy elsewhere
        tx.send(frame(i))
    got = rx.recv(1000)
    assert got is not None and got.frame == 0  # frame 0 went out at once against the credit
    tx.service()  # nothing to send: no credit until the consumer asks again
    later = None
    deadline = time.monotonic() + 5
    while later is None and time.monotonic() < deadline:
        later = rx.recv(20)
        tx.service()
    assert later is not None and later.frame == 49  # the newest, not the oldest, is delivered
    assert tx.stats.stale_dropped == 48 and tx.stats.sent == 2
    tx.close(); rx.close()


def test_live_sender_never_blocks_without_a_consumer(ctx, endpoints):
    tx = Sender(ctx, endpoints.address("nobody"), Policy.LIVE)
    start = time.monotonic()
    results = [tx.send(frame(i)) for i in range(100)]
    assert time.monotonic() - start < 1.0
    assert not any(results) and tx.stats.stale_dropped == 99
    tx.close()


def test_replay_is_lossless_and_ordered_with_a_slow_consumer(ctx, endpoints):
    address = endpoints.address("replay")
    tx = Sender(ctx, address, Policy.REPLAY)
    rx = Receiver(ctx, address, Policy.REPLAY)
    n = 60
    got: list[int] = []

    def consume():
        while len(got) < n:
            msg = rx.recv(100)
            if msg is not None:
                got.append(msg.frame)
                time.sleep(0.005)  # slower than the producer: backpressure must hold it back

    thread = threading.Thread(target=consume)
    thread.start()
    for i in range(n):
        assert tx.send(frame(i, size=256))
    thread.join(timeout=30)
    assert got == list(range(n))
    assert tx.stats.send_dropped == 0 and rx.stats.stale_dropped == 0
    tx.close(); rx.close()


def test_replay_send_gives_up_when_asked_to_stop(ctx, endpoints):
    tx = Sender(ctx, endpoints.address("stuck"), Policy.REPLAY)
    stop_at = time.monotonic() + 0.3
    sent = [tx.send(frame(i), should_stop=lambda: time.monotonic() > stop_at) for i in range(20)]
    assert sent[-1] is False and tx.stats.send_dropped == 0
    tx.close()


@pytest.mark.skipif(not shm.available(), reason="no writable /dev/shm")
def test_zero_copy_receiver_detects_a_lapped_frame_counts_it_and_falls_back_to_copies(ctx, endpoints):
    prefix = f"{Path(endpoints.directory).name}-zc"
    ring = FrameRing(prefix, slots=4)
    address = endpoints.address("zc")
    tx = Sender(ctx, address, Policy.REPLAY, ring=ring)
    rx = Receiver(ctx, address, Policy.REPLAY, shm_prefix=prefix, zero_copy=True)
    try:
        assert tx.send(frame(0, size=512))
        held = rx.recv(5000)
        assert held is not None and held.leases and rx.verify(held)  # used in time: valid
        for i in range(1, 5):  # a slow consumer: the producer laps the 4-slot ring meanwhile
            assert tx.send(frame(i, size=512))
        assert not rx.verify(held)
        assert rx.stats.bad["shm_overrun"] == 1 and not rx.zero_copy
        later = [rx.recv(5000) for _ in range(4)]
        assert [m.frame for m in later] == [1, 2, 3, 4]
        assert all(not m.leases and rx.verify(m) for m in later)  # copies from now on
        assert int(later[-1].arrays["ir"][0, 0]) == 4
    finally:
        tx.close(); rx.close(); ring.close()


def test_supervisor_sends_the_run_state_on_change_and_repeats_it_slowly(ctx, endpoints):
    from monitor import supervisor as sup
    from monitor.workers.base import COMMAND, RunConfig

    s = sup.Supervisor(RunConfig(endpoints=endpoints.to_json()), ["capture", "sink"], endpoints)
    s.command = ctx.socket(zmq.PUB)
    s.command.bind(endpoints.address(COMMAND))
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(endpoints.address(COMMAND))
    time.sleep(0.3)  # a SUB sees only what is sent after it has joined

    def received() -> list[dict]:
        got = []
        while sub.poll(50):
            got.append(json.loads(sub.recv()))
        return got

    for _ in range(50):  # the watch loop calls it on every heartbeat: one message, not fifty
        s._publish_run_state()
    assert received() == [{"go": False, "finished": []}]
    for handle in s.workers.values():
        handle.state = "running"
    s._publish_run_state()  # a change goes out at once
    assert received() == [{"go": True, "finished": []}]
    time.sleep(sup.COMMAND_REPEAT_S + 0.05)
    s._publish_run_state()  # unchanged, but repeated for late or restarted subscribers
    assert received() == [{"go": True, "finished": []}]
    s.ctx.destroy(linger=0)
