"""Stitching chunks into one whole-spine image (paper 2.2.1).

Modules
-------
stitch      stitch images or masks in memory and as files
grid        the output grid: exactly the union of the chunks
resample    each chunk onto the output grid (cubic images, nearest masks)
blend       linear ramp weights in overlaps; masks kept whole
report      junctions, gaps and overlaps of one stitching
bids        stitching every session of a BIDS dataset
validation  stitched images and masks against the synthetic truth
unstitch    a stitched label map resampled back onto each chunk's grid (scoring stitched models per chunk)
"""
