"""Calibration tools: cabin layouts, camera intrinsics/pose, hand-eye, head frame, per-driver gaze.

Run ``python -m calib --help``. OpenCV and pyrealsense2 are imported only by the tools that need
them, so the runtime can import `calib.layout` and `calib.driver_calibration` cheaply.
"""
