"""``swint bench``: layer-level (SwinT vs Conv2D) and model-level speed measurements.

The parent side (:mod:`.plan`, :mod:`.runner`, :mod:`.report`) never imports Paddle itself;
each measurement runs in a fresh ``python -m swint_cli.bench.worker`` process, which sets
up the CPU environment before Paddle loads (:mod:`.worker`, :mod:`.measure`).
:mod:`.setup` turns the command line's choices into the options, the models and env.json.
"""
