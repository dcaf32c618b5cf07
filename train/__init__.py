"""Training: data (synthetic shards, public-dataset loaders), augmentation, loops, evaluation.

`python -m train.all` reproduces data generation, training, export and evaluation from scratch.
"""
