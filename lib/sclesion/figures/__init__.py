"""Figures shared by the chapters.

Modules
-------
slices          the axial-slice and sagittal MIP renderers, the slice picker, and panels built on them
distributions   rainclouds, detection-rate bars, lesion-volume histograms, the qualitative panel
results         the results chapters' composite figures: raincloud rows, p-value matrix, lesion counts, detection
predictions     per test site, the reference and each model's prediction (axial slice and sagittal MIP), missed
                lesions marked
flowchart       the cohort's flowchart (patients and images per site into training and testing)
widgets         the interactive slice browser (ipywidgets)
viewer          an interactive viewer (nilearn's view_img) with cord and lesion overlays, for static pages
"""
