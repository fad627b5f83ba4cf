"""Preprocessing (paper 2.2): stitching chunks, straightening the cord, the four dataset variants.

Packages and modules
--------------------
stitching       chunks -> one whole-spine image and masks (2.2.1)
straightening   centerline, straightening, warping fields and their QC (2.2.2)
variants        chunks/stitched x native/straightened, as BIDS derivatives
"""
