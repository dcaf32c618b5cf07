"""Bad input everywhere: every bad file or option ends the run with exit code 2 and one line that
says what is wrong and what to do; no traceback, and nothing is left behind in the output folder."""
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import onnx
import pytest

from monitor.recording import MAGIC
from pipeline_helpers import ROOT, results, run, summary
from tests.fixtures import write_recording
from tests.onnx_factory import body_model, head_model

LAYOUT = "calib/layouts/synthetic_cabin.json"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("inputs")
    good = write_recording(d / "good.dmsrec", 12, width=64, height=48)
    return {"dir": d, "recording": good, "body": body_model(d / "body.onnx"), "head": head_model(d / "head.onnx")}


def recording_case(inputs, name):
    d, data = inputs["dir"], inputs["recording"].read_bytes()
    path = d / f"{name}.dmsrec"
    if name == "wrong_format":
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    elif name == "empty":
        path.write_bytes(b"")
    elif name == "cut_header":
        path.write_bytes(data[:12])
    elif name == "corrupt_record":  # the part count of the third record overwritten
        header_len = int.from_bytes(data[8:12], "little")
        first = 12 + header_len
        path.write_bytes(data)
        with open(path, "r+b") as f:
            # walk two records, then spoil the next part count
            offset = first
            for _ in range(2):
                f.seek(offset)
                count = int.from_bytes(f.read(4), "little")
                offset += 4
                for _ in range(count):
                    f.seek(offset)
                    offset += 8 + int.from_bytes(f.read(8), "little")
            f.seek(offset)
            f.write((999).to_bytes(4, "little"))
    elif name == "garbage_message":  # well framed, but the message header is not JSON
        header = json.dumps({"format": "dmsrec", "version": 1}).encode()
        record = (2).to_bytes(4, "little") + (6).to_bytes(8, "little") + b"frames" + (5).to_bytes(8, "little") + b"{nope"
        path.write_bytes(MAGIC + len(header).to_bytes(4, "little") + header + record)
    elif name == "no_frames":
        header = json.dumps({"format": "dmsrec", "version": 1}).encode()
        path.write_bytes(MAGIC + len(header).to_bytes(4, "little") + header)
    elif name == "future_version":
        header = json.dumps({"format": "dmsrec", "version": 9}).encode()
        path.write_bytes(MAGIC + len(header).to_bytes(4, "little") + header)
    return path


@pytest.mark.parametrize("name, expect", [
    ("wrong_format", "not a .dmsrec recording"),
    ("empty", "not a .dmsrec recording"),
    ("cut_header", "corrupt file header"),
    ("corrupt_record", "corrupt record 2"),
    ("garbage_message", "record 0 at byte"),
    ("no_frames", "holds no frames"),
    ("future_version", "format version 9"),
])
def test_bad_recordings_are_refused_before_anything_is_written(tmp_path, inputs, name, expect):
    out = tmp_path / "run"
    code, output = run(out, "--source", str(recording_case(inputs, name)), "--fast",
                       "--body-model", str(inputs["body"]), "--head-model", str(inputs["head"]), timeout=60)
    assert code == 2, output
    assert expect in output and "Traceback" not in output
    assert [line for line in output.splitlines() if line.startswith("error:")] == [output.strip()]  # one line
    assert not out.exists()


def test_a_recording_cut_by_a_crash_plays_up_to_its_last_complete_frame(tmp_path, inputs):
    cut = tmp_path / "cut.dmsrec"
    cut.write_bytes(inputs["recording"].read_bytes()[:-1000])
    code, output = run(tmp_path / "run", "--source", str(cut), "--fast",
                       "--body-model", str(inputs["body"]), "--head-model", str(inputs["head"]), timeout=60)
    assert code == 0, output
    assert "incomplete, probably cut by a crash" in output
    assert [r["frame"] for r in results(tmp_path / "run")] == list(range(11))
    warnings = summary(tmp_path / "run")["warnings"]  # the summary says so too, not only the log
    assert any(str(cut) in w and "the last record is incomplete" in w for w in warnings), warnings


def test_a_garbage_realsense_file_is_refused(tmp_path, inputs):
    pytest.importorskip("pyrealsense2")
    bag = tmp_path / "drive.bag"
    bag.write_bytes(b"#ROSBAG V2.0\n" + os.urandom(2000))
    out = tmp_path / "run"
    code, output = run(out, "--source", str(bag), "--fast", "--body-model", str(inputs["body"]),
                       "--head-model", str(inputs["head"]), timeout=90)
    assert code == 2, output
    assert "cannot read this recording" in output and "Traceback" not in output
    assert not out.exists()


def model_case(inputs, tmp_path, name):
    body, head = inputs["body"], inputs["head"]
    bad = tmp_path / f"{name}.onnx"
    if name == "random_bytes":
        bad.write_bytes(os.urandom(4000))
        return ["--body-model", str(bad), "--head-model", str(head)]
    if name == "truncated":
        bad.write_bytes(body.read_bytes()[: body.stat().st_size // 2])
        return ["--body-model", str(bad), "--head-model", str(head)]
    if name == "text_file":
        bad.write_text("this is a model card, not a model\n")
        return ["--body-model", str(head), "--head-model", str(bad)]
    if name == "swapped":
        return ["--body-model", str(head), "--head-model", str(body)]
    if name == "wrong_input_size":  # the contract promises 128x128, the graph takes 64x64
        model = onnx.load(str(body))
        entry = next(p for p in model.metadata_props if p.key == "dms_contract")
        contract = json.loads(entry.value)
        contract["input"]["height"] = contract["input"]["width"] = 128
        entry.value = json.dumps(contract)
        onnx.save(model, str(bad))
        return ["--body-model", str(bad), "--head-model", str(head)]
    if name == "no_contract":
        return ["--body-model", str(body_model(bad, contract=False)), "--head-model", str(head)]
    if name == "missing":
        return ["--body-model", str(tmp_path / "nowhere.onnx"), "--head-model", str(head)]
    raise AssertionError(name)


@pytest.mark.parametrize("name, expect", [
    ("random_bytes", "is not a loadable ONNX model"),
    ("truncated", "is not a loadable ONNX model"),
    ("text_file", "is not a loadable ONNX model"),
    ("swapped", "is a head_pose model, not a body_joints model"),
    ("wrong_input_size", "does not run on the input its contract promises"),
    ("no_contract", "carries no 'dms_contract' metadata"),
    ("missing", "model file not found"),
])
def test_bad_models_are_refused_and_nothing_is_left_behind(tmp_path, inputs, name, expect):
    out = tmp_path / "run"
    code, output = run(out, "--source", str(inputs["recording"]), "--fast", *model_case(inputs, tmp_path, name),
                       timeout=90)
    assert code == 2, output
    assert expect in output and "Traceback" not in output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and expect in errors[0]
    assert output.count(expect) == 1, output  # said once, not also in the worker's log
    assert not out.exists()


def config_case(tmp_path, name):
    path = tmp_path / f"{name}.json"
    layout = json.loads(open(LAYOUT).read())
    if name == "layout_not_json":
        path.write_text("{ zones: [")
        return ["--layout", str(path)]
    if name == "layout_wrong_format":
        layout["format"] = "something-else"
        path.write_text(json.dumps(layout))
        return ["--layout", str(path)]
    if name == "layout_bad_zone":
        layout["zones"][0]["kind"] = "blob"
        path.write_text(json.dumps(layout))
        return ["--layout", str(path)]
    if name == "layout_missing":
        return ["--layout", str(tmp_path / "nowhere.json")]
    if name == "calibration_not_json":
        path.write_text("not json")
        return ["--driver-calibration", str(path)]
    if name in ("layout_is_a_folder", "calibration_is_a_folder"):
        folder = tmp_path / "a_folder.json"
        folder.mkdir()
        return ["--layout" if name.startswith("layout") else "--driver-calibration", str(folder)]
    if name in ("layout_binary", "calibration_binary"):
        path.write_bytes(bytes(range(128, 256)))  # not UTF-8
        return ["--layout" if name.startswith("layout") else "--driver-calibration", str(path)]
    if name == "layout_is_a_calibration":
        path.write_text(json.dumps({"format": "dms-driver-calibration", "driver_id": "alice"}))
        return ["--layout", str(path)]
    if name == "calibration_wrong_kind":
        path.write_text(json.dumps(layout))  # a layout given as a calibration
        return ["--driver-calibration", str(path)]
    raise AssertionError(name)


@pytest.mark.parametrize("name, expect", [
    ("layout_not_json", "not valid JSON"),
    ("layout_wrong_format", "format"),
    ("layout_bad_zone", "blob"),
    ("layout_missing", "layout file not found"),
    ("calibration_not_json", "not valid JSON"),
    ("calibration_wrong_kind", "not a driver calibration"),
    ("layout_is_a_calibration", "this is a driver calibration: pass it as --driver-calibration"),
    ("layout_is_a_folder", "is a folder, not a layout file"),
    ("calibration_is_a_folder", "is a folder, not a driver calibration file"),
    ("layout_binary", "not a layout file (not UTF-8"),
    ("calibration_binary", "not a driver calibration file (not UTF-8"),
])
def test_bad_layouts_and_calibrations_are_refused(tmp_path, inputs, name, expect):
    out = tmp_path / "run"
    code, output = run(out, "--source", str(inputs["recording"]), *config_case(tmp_path, name), timeout=60)
    assert code == 2, output
    assert output.startswith("error:") and output.count("\n") == 1 and expect in output
    assert not out.exists()


@pytest.mark.parametrize("args, expect", [
    (["--bogus"], "unrecognized arguments: --bogus"),
    (["--max-frames", "lots"], "invalid int value"),
    (["--max-frames", "-3"], "--max-frames must be >= 0"),
    (["--policy", "fastest"], "invalid choice"),
    (["--source", "webcam:0"], "unknown source"),
    (["--source", "synthetic:seed"], "use key=value"),
    (["--source", "synthetic:sed=3"], "unknown synthetic option(s) ['sed']"),  # before any worker starts
    (["--source", "synthetic:scenario=nope"], "unknown scenario 'nope'"),
    (["--inject-fault", "explode=1"], "source-unplug=FRAME:SECONDS"),
    (["--vats-s", "40"], "vats_threshold_s (40.0) must be below vats_window_s (30.0)"),
    (["--long-distraction-s", "0"], "must be positive"),
    (["--long-distraction-s", "nan"], "must be finite numbers of seconds"),
    (["--unknown-policy", "ignore"], "invalid choice"),
    (["--inject-fault", "model-error=10:2.5"], "FRAME and COUNT whole numbers"),
    (["--inject-fault", "source-unplug=10:nan"], "source-unplug=FRAME:SECONDS"),
    (["--inject-fault", "model-error=5:3", "--inject-fault", "model-error=10:2"], "model-error is given twice"),
    (["--inject-delay", "estimator=slow"], "not a number"),
    (["--transport", "tcp"], "--transport tcp needs --keys DIR"),
    (["--transport", "tcp", "--keys", "/nonexistent/keys"], "run_monitor.py keys --out"),
    (["--tcp-port", "70000"], "--tcp-port 70000"),
    (["--max-frame", "3"], "unrecognized arguments: --max-frame"),  # no abbreviations
    (["--providers", "gpu"], "--providers: unknown execution provider 'gpu'; use tensorrt"),
])
def test_bad_options_get_one_line_and_exit_code_2(tmp_path, args, expect):
    out = tmp_path / "run"
    code, output = run(out, *args, timeout=60)
    assert code == 2, output
    assert output.startswith("error:") and output.count("\n") == 1 and expect in output, output
    assert not out.exists()


@pytest.mark.parametrize("where", ["a file", "under a file", "a folder that takes no files"])
@pytest.mark.parametrize("command", [[], ["bench", "--frames", "20"], ["soak", "--minutes", "1"], ["keys"]])
def test_an_out_folder_that_cannot_be_made_gets_one_line_and_exit_code_2(tmp_path, command, where):
    import subprocess
    import sys

    blocker = tmp_path / "taken"
    blocker.write_text("a file, not a folder")
    out = {"a file": blocker, "under a file": blocker / "run",
           "a folder that takes no files": Path("/proc")}[where]  # not even root may create files there
    proc = subprocess.run([sys.executable, "run_monitor.py", *command, "--out", str(out)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: --out") and proc.stderr.count("\n") == 1, proc.stderr
    assert blocker.read_text() == "a file, not a folder"


def test_a_secret_key_readable_by_others_is_refused(tmp_path):
    from monitor.security import generate_keys

    keys = tmp_path / "keys"
    generate_keys(keys)
    os.chmod(keys / "dms.key_secret", stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP)
    code, output = run(tmp_path / "run", "--transport", "tcp", "--keys", str(keys), timeout=30)
    assert code == 2 and "can be read by other users" in output and output.count("\n") == 1


def test_exit_codes_are_documented_in_help_and_readme():
    import subprocess
    import sys

    help_text = subprocess.run([sys.executable, "run_monitor.py", "--help"], capture_output=True, text=True).stdout
    readme = open("README.md").read()
    for code in ("0", "1", "2", "130"):
        assert f"\n  {code} " in help_text
    assert "Exit codes" in readme and "bad input" in readme


def test_a_stdout_closed_by_its_reader_costs_no_file_and_no_traceback(tmp_path, models):
    """``run_monitor.py ... | head -1``: the summary is printed after the reader went away."""
    recording = write_recording(tmp_path / "clip.dmsrec", 20, width=160, height=120)
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, str(ROOT / "run_monitor.py"), "--out", str(out), "--headless",
                             "--source", str(recording), "--fast", *models],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().startswith("running ")
    proc.stdout.close()  # as `head -1` does
    _, errors = proc.communicate(timeout=120)
    assert proc.returncode == 0 and "Traceback" not in errors, errors
    assert (out / "events.jsonl").exists()  # empty: this clip has no distraction
    for name in ("results.jsonl", "summary.json", "results.csv", "report.html"):
        assert (out / name).stat().st_size > 0, name
