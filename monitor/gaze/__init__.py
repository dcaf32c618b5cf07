"""Gaze zones and driver state (numpy only): classifier, hysteresis, distraction timers, stage."""
from monitor.gaze.classifier import GazeZoneClassifier, ZoneEstimate
from monitor.gaze.smoothing import Debouncer, HysteresisConfig
from monitor.gaze.head_space import HeadSpaceConfig
from monitor.gaze.stage import DEFAULT_GAZE_SCORING, GAZE_SCORINGS, GazeStateConfig, GazeStateStage, gaze_state_config
from monitor.gaze.state import DistractionConfig, DistractionMonitor
from monitor.gaze.types import DistractionEvent, DriverState, GazeResult
from monitor.gaze.zones import OTHER, UNKNOWN, ZoneScorer

__all__ = ["GazeZoneClassifier", "ZoneEstimate", "Debouncer", "HysteresisConfig", "GazeStateConfig",
           "GazeStateStage", "DistractionConfig", "DistractionMonitor", "DistractionEvent", "DriverState",
           "GazeResult", "OTHER", "UNKNOWN", "ZoneScorer", "GAZE_SCORINGS", "DEFAULT_GAZE_SCORING", "gaze_state_config", "HeadSpaceConfig"]
