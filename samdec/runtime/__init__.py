"""The model runtime: loading, weight layouts, the forward pass, the KV cache, native kernels,
calibration, and `ModelRunner`, which the engine reaches them through (samdec.runner).

Nothing here knows about drafting; nothing in the decoding layer imports this package.
"""
