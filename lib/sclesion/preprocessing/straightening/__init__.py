"""Straightening the spinal cord (paper 2.2.2).

Modules
-------
centerline  the cord centerline from a mask, fitted and resampled by arc length
straighten  the straight grid and both warping fields
warp        applying warping fields to images and masks
qc          straightening quality: centerline error, round trip, lesion volumes
"""
