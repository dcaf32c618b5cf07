"""What people look at and keep: the live overlay (drawing, frame/state join, video) and the run's
exports (CSV, HTML report). Importing this package imports nothing heavy."""
