"""Benchmark: ``sclesion segment`` vs nnU-Net's own ``nnUNetv2_predict``, same model folder, same settings, on CPU.

Usage: ``python benchmarks/bench_segment.py [--model MODEL_DIR] [--threads N]``

Model: the demo profile's 2d chunks-native model when notebook 04 has trained it (``_data/demo/work``), else
the smoke profile's (trained here first if missing, about 3 minutes), or any nnU-Net model folder laid out as
nnU-Net's (``--model``). Inputs: the chunks of one TUM-like test session of that model's dataset (its
converted copies, stored RPI, so that nnU-Net, which reads files as they are stored, sees what ours sees).

Each chunk is segmented by each tool in its own command, one after the other, in this run:

* ours: ``sclesion segment -i CHUNK -m MODEL -o OUT --no-qc`` (inference, masks, sidecars, the lesion table);
* nnU-Net: ``nnUNetv2_predict`` with the same folds, tile step 0.5, Gaussian weighting, no mirroring
  (``--disable_tta``), ``checkpoint_final.pth``, one preprocessing and one export worker.

Both get the same thread limits and ``OMP_WAIT_POLICY=PASSIVE`` (the ``sclesion`` command's default). Reported
per chunk: wall seconds of the whole command (start-up and imports included, as a user waits for it) and the
peak resident memory of its process tree (the sum over the process and its workers, sampled every 20 ms), with
the ratio ours / nnU-Net. The QC page is timed separately (it is
extra work nnU-Net does not do). Labels of both tools are compared voxel by voxel.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from shared import ROOT, default_model, measure, test_chunks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="nnU-Net model folder (default: demo, else smoke 2d chunks-native)")
    parser.add_argument("--threads", type=int, default=2, help="threads for each tool (default 2)")
    args = parser.parse_args(argv)

    import nibabel as nib

    from sclesion.nnunet.predict import available_folds, nnunet_predict_command

    model_dir = (args.model or default_model()).resolve()
    folds = available_folds(model_dir)
    chunks = test_chunks(model_dir)
    limits = {"OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads),
              "nnUNet_def_n_proc": "1", "nnUNet_n_proc_DA": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    print(f"model {model_dir} (folds {folds}); {len(chunks)} chunks; {args.threads} threads each; CPU")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for chunk in chunks:
            case = chunk.name.removesuffix("_0000.nii.gz")
            inputs = tmp / case / "in"
            inputs.mkdir(parents=True)
            shutil.copy(chunk, inputs / chunk.name)
            theirs_cmd, environ = nnunet_predict_command(model_dir, inputs, tmp / case / "nnunet", folds)
            env = {**os.environ, **environ, **limits, "PYTHONPATH": str(ROOT / "lib")}
            ours_cmd = [sys.executable, "-m", "sclesion", "segment", "-i", str(inputs / chunk.name), "-m",
                        str(model_dir), "-o", str(tmp / case / "ours"), "--no-qc"]
            ours = measure(ours_cmd, env)
            theirs = measure(theirs_cmd, env)
            qc_cmd = [sys.executable, "-c", "import sys; from sclesion.segment.run import segment; "
                      "segment([sys.argv[1]], sys.argv[2], sys.argv[3], progress=False)",
                      str(inputs / chunk.name), str(model_dir), str(tmp / case / "ours")]
            qc_seconds, _ = measure(qc_cmd, env)  # outputs kept: the rerun writes the QC page only
            lesion = np.asanyarray(nib.load(tmp / case / "ours" / f"{case}_0000_lesion_seg.nii.gz").dataobj)
            labels = np.asanyarray(nib.load(tmp / case / "nnunet" / f"{case}.nii.gz").dataobj)
            same = bool(np.array_equal(lesion, (labels == 2).astype(np.uint8)))
            shape = "x".join(str(n) for n in nib.load(chunk).shape)
            rows.append((case[-7:], shape, *ours, *theirs, qc_seconds, same))
    print(f"\n{'chunk':<8} {'voxels':<10} {'ours s':>7} {'ours MB':>8} {'nnU-Net s':>10} {'nnU-Net MB':>11} "
          f"{'time ratio':>10} {'mem ratio':>9} {'QC page s':>9}  same labels")
    for name, shape, s1, m1, s2, m2, qc, same in rows:
        print(f"{name:<8} {shape:<10} {s1:7.1f} {m1:8.0f} {s2:10.1f} {m2:11.0f} {s1 / s2:10.2f} {m1 / m2:9.2f} "
              f"{qc:9.1f}  {same}")
    total = np.array([r[2:6] for r in rows]).sum(axis=0)
    print(f"{'all':<19} {total[0]:7.1f} {'':8} {total[2]:10.1f} {'':11} {total[0] / total[2]:10.2f}")
    return 0 if all(r[-1] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
