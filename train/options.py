"""Option and input checks the four trainers share (train.head, train.body, train.eye, train.eye_locate).

Bad input is refused before any training starts, with one ``error: ...`` line on stderr and exit
code 2, and leaves nothing behind: a training run can take an hour, so a typo in --test or --out
must not surface only at its end.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any, Callable, Iterator, NoReturn, Sequence

import numpy as np

EYE_SET = "an eye crop set (python -m train.eye_data)"
LOCATE_SET = "an eye-locator crop set (python -m train.eye_locate_data)"
COVER_SET = "a face-cover crop set (python -m train.face_cover_data)"
RECORD_PACK = "a train.data pack (python -m train.data)"


class InputError(Exception):
    """Bad input found by a check; ``refuse_bad_input`` turns it into the one-line error."""


def fail(message: str, code: int = 2) -> NoReturn:
    # one line: exception texts (torch's load_state_dict, protobuf) can span several
    line = " ".join(str(message).split())
    print(f"error: {line[:400]}", file=sys.stderr)
    raise SystemExit(code)


@contextlib.contextmanager
def refuse_bad_input() -> Iterator[None]:
    try:
        yield
    except InputError as exc:
        fail(str(exc))


# ---- numbers -------------------------------------------------------------------------------------

def check_numbers(args: argparse.Namespace) -> None:
    """The numeric options every trainer has, where present: --minutes, --max-steps, --lr, --batch,
    --seed, --threads."""
    if getattr(args, "minutes", None) is not None:  # None: train.eye_locate's steps alone
        positive(args.minutes, "--minutes", "a positive number of minutes")
    if getattr(args, "max_steps", None) is not None and args.max_steps < 1:
        raise InputError(f"--max-steps must be 1 or more, got {args.max_steps}")
    positive(args.lr, "--lr", "a positive learning rate")
    if args.batch < 2:  # batch norm needs two samples to normalise over
        raise InputError(f"--batch must be 2 or more (batch norm needs two crops to normalise), got {args.batch}")
    if not 0 <= args.seed < 2 ** 32:
        raise InputError(f"--seed must be 0..{2 ** 32 - 1}, got {args.seed}")
    if args.threads < 0:
        raise InputError(f"--threads must be 0 (torch's default) or more, got {args.threads}")


def positive(value: float | None, option: str, what: str) -> None:
    if value is None or not math.isfinite(value) or value <= 0:
        raise InputError(f"{option} must be {what}, got {value}")


def at_least_zero(value: float, option: str) -> None:
    if not math.isfinite(value) or value < 0:
        raise InputError(f"{option} must be a finite number >= 0, got {value}")


def fraction(value: float, option: str, upper_open: bool = False) -> None:
    ok = math.isfinite(value) and 0.0 <= value and (value < 1.0 if upper_open else value <= 1.0)
    if not ok:
        raise InputError(f"{option} must be in 0..1{' (1 excluded)' if upper_open else ''}, got {value}")


def set_threads(threads: int) -> None:
    """0 leaves torch's default (as train.eye always documented); torch refuses 0 itself."""
    import torch
    if threads > 0:
        torch.set_num_threads(threads)


# ---- the training budget -------------------------------------------------------------------------

class Budget:
    """Training stops at whichever comes first, ``max_steps`` steps or ``minutes`` of wall clock
    (either may be None, not both); the learning-rate schedule follows the budget nearer its end,
    so a run the clock cuts short still ends with a decayed rate. At least one step is taken."""

    def __init__(self, minutes: float | None, max_steps: int | None):
        if minutes is None and max_steps is None:
            raise ValueError("a training budget needs minutes or max_steps")
        if minutes is not None and not (math.isfinite(minutes) and minutes > 0):
            raise ValueError(f"minutes must be a positive number, got {minutes}")
        if max_steps is not None and max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {max_steps}")
        self.minutes, self.max_steps, self.t0 = minutes, max_steps, time.monotonic()

    def start(self) -> float:
        """The clock starts with the first step, not when the network was built; returns the time."""
        self.t0 = time.monotonic()
        return self.t0

    def progress(self, step: int) -> float:
        by_steps = step / self.max_steps if self.max_steps is not None else 0.0
        by_time = (time.monotonic() - self.t0) / (self.minutes * 60.0) if self.minutes is not None else 0.0
        return max(by_steps, by_time)

    def done(self, step: int) -> bool:
        return step > 0 and self.progress(step) >= 1.0

    def stopped_by(self, step: int) -> str:
        return "steps" if self.max_steps is not None and step >= self.max_steps else "minutes"


def resolve_minutes(minutes: float | None, max_steps: int | None, default: float) -> float | None:
    """--minutes as given; without it, the trainer's default only when --max-steps is not given
    either, so --max-steps alone means the steps alone (no clock cap), as it always did."""
    return default if minutes is None and max_steps is None else minutes


BUDGET_HELP = ("training stops at whichever comes first, --max-steps or --minutes (the other is a cap); "
               "the cosine learning rate follows the one nearer its end")


# ---- input files ---------------------------------------------------------------------------------

def _npz_keys(path: Path, option: str, expected: str = "an .npz file") -> list[str]:
    if not path.exists():
        raise InputError(f"{option} {path}: no such file; expected {expected}")
    if path.is_dir():
        raise InputError(f"{option} {path}: a folder; expected {expected}")
    try:
        z = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise InputError(f"{option} {path}: not a readable .npz file ({exc})") from None
    if not isinstance(z, np.lib.npyio.NpzFile):  # an .npy file: one array
        raise InputError(f"{option} {path}: a single array, not an .npz archive")
    with z:
        return list(z.files)


def _kind_of(keys: Sequence[str]) -> str:
    k = set(keys)
    if "depth" in k and "joints_uv" in k:
        return RECORD_PACK
    if "hidden" in k and "x" in k:
        return LOCATE_SET
    if "covered" in k and "x" in k:
        return COVER_SET
    if "eye_offset_mm" in k or "first" in k:
        return EYE_SET
    return "an unknown .npz (keys " + ", ".join(sorted(k)[:6]) + ")"


def _pack_files(p: Path, option: str) -> list[Path]:
    from train.data import pack_files
    if not p.exists():
        raise InputError(f"{option} {p}: no such pack file or folder; write one with `python -m train.data`")
    try:
        return pack_files(p) if p.is_dir() else [p]
    except ValueError as exc:  # a folder train.data did not finish, or its specs.json is off
        raise InputError(f"{option} {exc}") from None


def check_record_packs(paths: Sequence[str], option: str, trainer: str) -> None:
    """train.head / train.body inputs: pack files or train.data folders, each file a train.data pack
    (told apart from the eye-stage crop sets by its arrays, without decompressing them)."""
    from train.data import PACK_KEYS
    for p in map(Path, paths):
        for f in _pack_files(p, option):
            keys = _npz_keys(f, option)
            if not set(PACK_KEYS) <= set(keys):
                raise InputError(f"{option} {f}: {_kind_of(keys)}, but {trainer} trains on {RECORD_PACK}")


def open_records(paths: Sequence[str], option: str, trainer: str):
    """Checked records of ``paths`` (train.data.load_records: its own checks of the folders count too)."""
    from train.data import load_records
    check_record_packs(paths, option, trainer)
    try:
        return load_records(paths)
    except (ValueError, OSError) as exc:
        raise InputError(f"{option}: {exc}") from None


def count_frames(paths: Sequence[str]) -> int:
    """Frames in checked packs, from their smallest array (nothing big is decompressed)."""
    n = 0
    for p in map(Path, paths):
        for f in _pack_files(p, "--test"):
            with np.load(f) as z:
                n += len(z["depth_unit_mm"])
    return n


def load_crop_set(path: str, option: str, kind: str, required: Sequence[str], crop_hw: tuple[int, int],
                  trainer: str, label_key: str = "y", label_shape: tuple[int, ...] = (2,)) -> dict[str, np.ndarray]:
    """A train.eye_data / train.eye_locate_data / train.face_cover_data set, read whole and checked:
    its kind, the arrays ``required``, crops of ``crop_hw`` and one label (``label_key``, of
    ``label_shape``) per crop."""
    p = Path(path)
    keys = _npz_keys(p, option, f"{kind}, one .npz file")
    if _kind_of(keys) != kind:
        raise InputError(f"{option} {p}: {_kind_of(keys)}, but {trainer} trains on {kind}")
    missing = [k for k in required if k not in keys]
    if missing:
        raise InputError(f"{option} {p}: no {', '.join(repr(k) for k in missing)} in the set; regenerate it "
                         f"({kind.split('(')[1].rstrip(')')})")
    try:
        with np.load(p, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise InputError(f"{option} {p}: unreadable ({exc})") from None
    x, y = data["x"], data[label_key]
    if x.ndim != 3 or tuple(x.shape[1:]) != tuple(crop_hw):
        raise InputError(f"{option} {p}: crops of shape {tuple(x.shape[1:])}, {trainer} expects {tuple(crop_hw)}")
    if len(x) == 0:
        raise InputError(f"{option} {p}: no crops")
    if y.shape != (len(x), *label_shape) or any(len(data[k]) != len(x) for k in ("first", "hidden", "seed", "mount")
                                                 if k in data):
        raise InputError(f"{option} {p}: {len(x)} crops but labels of shape {y.shape}; regenerate the set")
    return data


def seed_ranges_of(sets: Sequence[dict[str, np.ndarray]]) -> list[tuple[int, int]]:
    """(first, last) scene seed of each crop set (its "seed" array), for the model card."""
    return [(int(st["seed"].min()), int(st["seed"].max())) for st in sets]


def seed_ranges_text(ranges: Sequence[tuple[int, int]]) -> str:
    """The model card's data line, e.g. "seeds 0-1199 + seeds 1200-2399"."""
    return " + ".join(f"seeds {a}-{b}" for a, b in ranges)


def check_init(load, init: str | None, what: str) -> None:
    """Load --init into a throw-away network now, so a wrong file fails before training."""
    if not init:
        return
    p = Path(init)
    if not p.is_file():
        raise InputError(f"--init {init}: no such file")
    try:
        load(init)
    except Exception as exc:  # protobuf DecodeError, torch unpickling and shape errors alike
        raise InputError(f"--init {init}: not {what} ({type(exc).__name__}: {exc})") from None


# ---- the output folder ---------------------------------------------------------------------------

def default_out(kind: str) -> str:
    """A new folder per run under runs/ (git-ignored): a trial run never replaces the shipped models."""
    return str(Path("runs") / f"train-{kind}-{time.strftime('%Y%m%d-%H%M%S')}")


OUT_HELP = ("folder for the model files (default: a new runs/train-{kind}-<time>; "
            "--out models replaces the shipped ones)")


def check_out(out: str) -> None:
    """--out must be a folder that is there or can be made, and writable; nothing is left made."""
    p = Path(out)
    if p.exists() and not p.is_dir():
        raise InputError(f"--out {out} is a file, not a folder; choose another --out")
    parent = p
    while not parent.exists():
        if parent.parent == parent:
            break
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(f"--out {out}: {parent} is a file, not a folder; choose another --out")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"--out {out}: {parent} is not writable; choose another --out")
    # access() says yes to root even where the kernel says no (/proc): try it, and undo
    _remove_empty(_make_writable(out))


@contextlib.contextmanager
def out_folder(out: str) -> Iterator[Path]:
    """Make --out (checked with ``check_out``) and prove it writable before training; if the run
    then fails, the folders made here are removed again when nothing was written to them."""
    with refuse_bad_input():
        made = _make_writable(out)
    try:
        yield Path(out)
    except BaseException:
        _remove_empty(made)
        raise


def _make_writable(out: str) -> list[Path]:
    """Make --out and write a throw-away file in it; the folders made (innermost first), or
    InputError with those removed again."""
    p = Path(out)
    made = [d for d in [p, *p.parents] if not d.exists()]
    try:
        p.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=p):
            pass
    except OSError as exc:
        _remove_empty(made)
        raise InputError(f"cannot write --out {out}: {exc.strerror or exc}; choose another --out") from None
    return made


def _remove_empty(dirs: list[Path]) -> None:
    for d in dirs:  # innermost first
        try:
            d.rmdir()
        except OSError:
            break


def check_final_loss(info: dict) -> None:
    """No export of a run whose loss went to NaN/inf (nothing usable, and NaN is not JSON)."""
    loss = info.get("final_loss")
    if loss is None or not math.isfinite(loss):
        fail(f"training ended with loss {loss} after {info.get('steps')} steps (diverged? try a lower --lr); "
             "nothing exported", code=1)


def write_model_files(net: Any, out: Path, name: str, contract: dict, run_record: dict,
                      card: Callable[[Path, str], Path]) -> None:
    """An eye-stage or face-cover trainer's outputs: ``out/name.onnx`` (fp32 only, checked against the
    network by exporters.export), ``out/name.train.json`` (``run_record``) and the model card that
    ``card(path, export line)`` writes; each reported as it is written."""
    from exporters.export import export_model
    report = export_model(net, out / f"{name}.onnx", contract, fp16=False)
    print(report.line())
    (out / f"{name}.train.json").write_text(json.dumps(run_record, indent=1))
    print(f"wrote {card(out / f'{name}.md', report.line())}")

