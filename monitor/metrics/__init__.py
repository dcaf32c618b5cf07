"""Evaluation metrics of the seed papers, pure numpy (no torch): head pose (AutoPOSE sec. 5.3) and
body joints (Watch-R-Patch sec. 5.1, COCO keypoint AP)."""
from monitor.metrics.headpose import HeadPoseMetrics, head_pose_metrics, wrap_deg
from monitor.metrics.keypoints import (BODY_SIGMAS_21, KeypointMetrics, average_precision, keypoint_metrics,
                                       oks)

__all__ = ["HeadPoseMetrics", "head_pose_metrics", "wrap_deg", "BODY_SIGMAS_21", "KeypointMetrics",
           "average_precision", "keypoint_metrics", "oks"]
