"""CURVE authentication and encryption for ``tcp://`` links (docs/security.md).

Network mode (a capture box and a compute box) must not accept frames from, or give frames to,
anyone on the network. Every tcp socket therefore speaks ZeroMQ CURVE: bound sockets are CURVE
servers, connecting sockets CURVE clients, and a ZAP handler in every process accepts only client
keys found in the run's key directory. A peer without CURVE fails the handshake; a peer with a key
that is not in the directory is refused by the ZAP handler. Both are logged and counted.

Keys are made once with ``python run_monitor.py keys --out DIR`` (zmq.auth certificate files:
``NAME.key`` public, ``NAME.key_secret`` secret, mode 0600) and DIR is copied to both boxes.
"""
from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

log = logging.getLogger(__name__)

KEY_NAME = "dms"
ZAP_DOMAIN = "dms"
# Handshake failures of a bound socket: a peer without CURVE, or one that failed authentication.
_FAILED_EVENTS = {
    getattr(zmq, "EVENT_HANDSHAKE_FAILED_NO_DETAIL", 0x0800): "handshake failed",
    getattr(zmq, "EVENT_HANDSHAKE_FAILED_PROTOCOL", 0x2000): "handshake failed (no CURVE or wrong protocol)",
    getattr(zmq, "EVENT_HANDSHAKE_FAILED_AUTH", 0x4000): "authentication failed (unknown key)",
}


class KeysError(ValueError):
    """The key directory is missing or unusable; the message says how to make one."""


def generate_keys(out_dir: str | os.PathLike[str], name: str = KEY_NAME) -> tuple[Path, Path]:
    """Create a CURVE key pair in ``out_dir`` (made private, 0700); returns (public, secret) paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    os.chmod(out, stat.S_IRWXU)
    public, secret = (out / f"{name}.key"), (out / f"{name}.key_secret")
    if public.exists() or secret.exists():
        raise KeysError(f"{out} already holds keys named {name!r}; choose another --out or --name")
    public_file, secret_file = zmq.auth.create_certificates(str(out), name)
    os.chmod(secret_file, stat.S_IRUSR | stat.S_IWUSR)
    return Path(public_file), Path(secret_file)


@dataclass(frozen=True)
class CurveKeys:
    """This node's key pair and the public keys it accepts (every ``*.key`` in the directory)."""

    directory: str
    public: bytes
    secret: bytes
    allowed: frozenset[bytes] = field(default_factory=frozenset)

    @classmethod
    def load(cls, directory: str | os.PathLike[str], name: str = KEY_NAME) -> "CurveKeys":
        d = Path(directory)
        secret_file = d / f"{name}.key_secret"
        if not secret_file.is_file():
            raise KeysError(f"{secret_file} not found: create keys with `python run_monitor.py keys --out {d}` "
                            "and copy that folder to both machines")
        if secret_file.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeysError(f"{secret_file} can be read by other users: `chmod 600 {secret_file}`")
        try:
            public, secret = zmq.auth.load_certificate(str(secret_file))
            allowed = frozenset(zmq.auth.load_certificate(str(p))[0] for p in sorted(d.glob("*.key")))
        except (ValueError, OSError) as exc:
            raise KeysError(f"{d}: unreadable CURVE key file ({exc}); make new keys with "
                            f"`python run_monitor.py keys --out DIR`") from None
        if secret is None or public is None:
            raise KeysError(f"{secret_file} holds no secret key; make new keys with `python run_monitor.py keys`")
        return cls(str(d), public, secret, allowed | {public})

    def make_server(self, socket: zmq.Socket) -> None:
        socket.curve_secretkey = self.secret
        socket.curve_publickey = self.public
        socket.curve_server = True
        socket.zap_domain = ZAP_DOMAIN.encode()

    def make_client(self, socket: zmq.Socket) -> None:
        socket.curve_secretkey = self.secret
        socket.curve_publickey = self.public
        socket.curve_serverkey = self.public  # every node serves with the same installation key


class _KeyCheck:
    """ZAP credentials provider: allow listed client keys, log and count the others."""

    def __init__(self, allowed: frozenset[bytes], counts: dict[str, int]) -> None:
        self.allowed = allowed
        self.counts = counts
        self.logged: set[bytes] = set()

    def callback(self, domain: str, z85_key: bytes) -> bool:
        if z85_key in self.allowed:
            return True
        self.counts["refused_key"] = self.counts.get("refused_key", 0) + 1
        if z85_key not in self.logged and len(self.logged) < 100:  # a refused peer retries every 0.1 s
            self.logged.add(z85_key)
            log.warning("refused a CURVE peer with an unknown key %s (domain %s); its retries are only counted",
                        z85_key.decode(errors="replace"), domain)
        return False


class NetworkGuard:
    """Per process: the ZAP authenticator plus handshake monitors on the bound sockets.

    ``counts`` (refused keys, failed handshakes) travels in the heartbeat so the run reports it.
    """

    def __init__(self, ctx: zmq.Context, keys: CurveKeys) -> None:
        self.keys = keys
        self.counts: dict[str, int] = {}
        self._logged: set[tuple[str, int]] = set()
        self._monitors: list[tuple[str, zmq.Socket]] = []
        self.auth = ThreadAuthenticator(ctx, log=logging.getLogger("monitor.security.zap"))
        self.auth.start()
        self.auth.configure_curve_callback(ZAP_DOMAIN, credentials_provider=_KeyCheck(keys.allowed, self.counts))

    def server(self, socket: zmq.Socket, label: str) -> None:
        self.keys.make_server(socket)
        monitor = socket.get_monitor_socket(sum(_FAILED_EVENTS))
        self._monitors.append((label, monitor))

    def client(self, socket: zmq.Socket) -> None:
        self.keys.make_client(socket)

    def poll(self) -> None:
        """Log and count failed handshakes seen since the last call (cheap; call it often)."""
        from zmq.utils.monitor import recv_monitor_message

        for label, monitor in self._monitors:
            while monitor.poll(0):
                try:
                    event: dict[str, Any] = recv_monitor_message(monitor, zmq.NOBLOCK)
                except (zmq.Again, zmq.ZMQError, ValueError):
                    break
                kind = _FAILED_EVENTS.get(event["event"])
                if kind is None:
                    continue
                self.counts["failed_handshake"] = self.counts.get("failed_handshake", 0) + 1
                if (label, event["event"]) not in self._logged:
                    self._logged.add((label, event["event"]))
                    log.warning("refused a peer on %s: %s; further ones are only counted", label, kind)

    def close(self) -> None:
        for _, monitor in self._monitors:
            monitor.close(linger=0)
        self._monitors.clear()
        self.auth.stop()


def keys_main(argv: list[str]) -> int:
    """``run_monitor.py keys --out DIR``: make the installation's CURVE key pair."""
    import argparse
    import sys

    p = argparse.ArgumentParser(prog="run_monitor.py keys", allow_abbrev=False, description="Make the CURVE key pair that "
                                "--transport tcp needs. Copy the folder to the capture box and the compute box "
                                "and pass it with --keys on both; peers without these keys are refused.")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the keys (created, mode 0700)")
    p.add_argument("--name", default=KEY_NAME, help="key file name (default: %(default)s)")
    args = p.parse_args(argv)
    from monitor.preflight import make_out_dir
    try:
        make_out_dir(Path(args.out))
        public, secret = generate_keys(args.out, args.name)
    except (ValueError, OSError) as exc:  # KeysError, or a folder that cannot be made
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {public} (public) and {secret} (secret, mode 0600); run with --transport tcp --keys {args.out}")
    return 0
