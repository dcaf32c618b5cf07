"""Loaders for public real datasets, written from their published layouts; each yields FrameRecords."""
