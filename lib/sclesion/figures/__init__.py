"""Figures shared by the chapters.

Modules
-------
slices          axial slices and sagittal maximum-intensity projections with mask overlays
distributions   rainclouds, detection-rate bars, lesion-volume histograms
viewer          an interactive viewer (nilearn's view_img) with cord and lesion overlays, for static pages
"""
