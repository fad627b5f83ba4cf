"""The QC page is self-contained and its pictures and viewer render in a browser (headless Chromium)."""

from __future__ import annotations

import html
import re
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from sclesion.evaluation.morphometrics import image_summary, lesion_table, write_table
from sclesion.figures.viewer import cord_lesion_viewer, label_overlay
from sclesion.segment.qc import lesion_slices, write_report
from sclesion.segment.run import SUMMARY_COLUMNS, output_paths

#: Marks the test's own probe script (added to a copy of the page, never to the page itself).
PROBE = """<script>window.addEventListener('load', () => {
  const imgs = Array.from(document.images);
  const frames = Array.from(document.querySelectorAll('iframe')).map(f => {
    const d = f.contentDocument; return d ? d.querySelectorAll('canvas').length + ':' + \
d.querySelectorAll('img').length : 'none'; });
  const out = document.createElement('pre'); out.id = 'probe';
  out.textContent = JSON.stringify({n: imgs.length, widths: imgs.map(i => i.naturalWidth), frames: frames});
  document.body.appendChild(out); });</script>"""


def _phantom_run(folder: Path) -> pd.DataFrame:
    """Outputs of a two-image run written by hand: a tube-shaped cord with two lesions, and a failed image."""
    rng = np.random.default_rng(0)
    affine = np.diag([0.8, 0.8, 3.0, 1.0])
    image = rng.normal(100, 10, (48, 40, 24)).astype(np.float32)
    cord = np.zeros(image.shape, np.uint8)
    cord[20:28, 16:24, 2:22] = 1
    lesion = np.zeros(image.shape, np.uint8)
    lesion[22:25, 18:21, 5:8] = 1
    lesion[23:26, 19:22, 15:17] = 1
    image[cord > 0] += 80
    image[lesion > 0] += 60
    source = folder / "sub-p01_acq-ax_chunk-1_T2w.nii.gz"
    nib.save(nib.Nifti1Image(image, affine), source)
    paths = output_paths(source, folder / "out")
    paths["sc_seg"].parent.mkdir(parents=True)
    nib.save(nib.Nifti1Image(cord, affine), paths["sc_seg"])
    nib.save(nib.Nifti1Image(lesion, affine), paths["lesion_seg"])
    table = lesion_table(lesion, cord, affine, 6, chunk=1)
    write_table(table, paths["lesions_tsv"])
    row = {"image": str(source), "status": "segmented", **image_summary(table, cord, affine, 1), **paths,
           "seconds": 1.0}
    bad = {"image": str(folder / "broken.nii.gz"), "status": "failed: cannot read as NIfTI (EOFError)"}
    return pd.DataFrame([row, bad], columns=SUMMARY_COLUMNS)


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("qc")
    return write_report(_phantom_run(folder), folder / "out" / "qc.html", folder / "model")


def test_page_needs_no_network(page):
    text = page.read_text()
    inner = html.unescape(text)  # the viewer is an <iframe srcdoc> holding an escaped page
    for content in (text, inner):
        assert not re.search(r"<(script|img|link|iframe)[^>]*\b(src|href)=[\"']?(https?:)?//", content, re.I)
    assert inner.count("<script") >= 2 and "brainsprite" in inner.lower()  # the viewer's scripts are inlined
    assert text.count('src="data:image/png;base64,') == 2  # mosaic and sagittal view of the one good image


def test_page_lists_lesions_and_the_failed_image(page):
    text = page.read_text()
    assert "2 lesion(s)" in text and "volume_mm3" in text and "max_equivalent_diameter_mm" in text
    assert "broken.nii.gz" in text and "cannot read as NIfTI" in text


def test_images_and_viewer_render_in_chromium(page, chromium, tmp_path):
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    dom = chromium.dom(probe)
    result = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert result, "the probe did not run"
    found = __import__("json").loads(html.unescape(result.group(1)))
    assert found["n"] == 2 and all(width > 0 for width in found["widths"])  # every picture decoded
    canvases = int(found["frames"][0].split(":")[0])
    assert canvases >= 1  # brainsprite drew the volume on a canvas inside the viewer's frame
    shot = chromium.screenshot(page, tmp_path / "page.png", size=(1100, 1400))
    pixels = np.asarray(__import__("PIL.Image", fromlist=["Image"]).open(shot).convert("RGB"))
    assert pixels.std() > 20 and len(np.unique(pixels.reshape(-1, 3), axis=0)) > 200  # not a blank page


def test_viewer_marks_cord_and_lesion_and_opens_on_a_lesion():
    affine = np.diag([1.0, 1.0, 2.0, 1.0])
    cord = np.zeros((10, 10, 10), np.uint8)
    cord[3:7, 3:7, :] = 1
    lesion = np.zeros_like(cord)
    lesion[4:6, 4:6, 6:8] = 1
    overlay = np.asarray(label_overlay(nib.Nifti1Image(cord, affine), nib.Nifti1Image(lesion, affine)).dataobj)
    assert set(np.unique(overlay)) == {0, 1, 2} and (overlay == 2).sum() == lesion.sum()
    image = nib.Nifti1Image(np.random.default_rng(1).normal(size=cord.shape).astype(np.float32), affine)
    view = cord_lesion_viewer(image, nib.Nifti1Image(cord, affine), nib.Nifti1Image(lesion, affine), title="t")
    assert "favicon" not in view.get_standalone() and "<iframe srcdoc=" in view._repr_html_()


def test_lesion_slices_prefer_the_largest_sections():
    mask = np.zeros((4, 4, 30), np.uint8)
    for k in range(25):
        mask[0, 0, k] = 1
    mask[:, :, 3] = 1
    assert lesion_slices(mask, most=2) == [0, 3] and len(lesion_slices(mask)) == 18
