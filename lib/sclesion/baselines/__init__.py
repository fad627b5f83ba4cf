"""Comparison methods (paper 2.5.1, 3.1, 3.4): the Spinal Cord Toolbox methods and the demo's stand-ins.

The paper compares its models with Spinal Cord Toolbox (SCT) tools. Where SCT is installed, :mod:`sct` runs
them exactly as the authors did; where it is not (the demo), training-free stand-ins take their place, and
every table and legend calls them stand-ins, never by an SCT tool's name.

Modules
-------
sct             adapter running SCT's cord and lesion segmentation tools when ``sct_*`` is on PATH
cord_standin    a classical, training-free spinal cord segmentation (stand-in for SCT's cord tools)
lesion_standin  a classical lesion detector, its threshold chosen on training data (stand-in for SCT's lesion tools)
"""
