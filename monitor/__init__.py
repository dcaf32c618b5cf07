"""Runtime of the driver-monitoring system: wire format, bus, sources, estimator, gaze/state,
sinks and the supervisor. Nothing in this package imports torch."""

__version__ = "0.1.0"
