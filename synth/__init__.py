"""Procedural in-cabin scenes: depth + IR frames with exact ground truth (docs/synth.md, docs/labels.md).

Numpy only (no torch), so the runtime's synthetic source can import it. Entry points:
    synth.scene.Scene            one seeded sequence: cabin + occupant + camera + behaviour timeline
    synth.dataset                training shards (CLI) and ``load_shards``
    synth.contact_sheet          a PNG grid that shows labels drawn over pixels
    synth.bench                  generation speed
    synth.export                 .dmsrec and RealSense .db3 recordings with a labels sidecar
"""
