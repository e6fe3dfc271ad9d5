"""The io benchmark's reference: the same job as bench/io/read-resample.mjs in OpenCV + NumPy.

Reads a COV19-CT-DB scan folder (<k>.jpg, numeric order) with cv2.imread(IMREAD_GRAYSCALE),
stacks it, and resamples to 64x256x256 with half-pixel-centre linear interpolation (the grid of
torch's trilinear align_corners=False): a NumPy linear pass along the slices first (300 -> 64
planes, the cheaper order), then cv2.resize INTER_LINEAR on each of the 64 planes. Run with Debian's python3 (python3-opencv, python3-numpy).
Prints one JSON line.
"""
import json
import os
import re
import resource
import sys
import time

import cv2
import numpy as np

cv2.setNumThreads(2)
folder = sys.argv[1]
shape = tuple(int(s) for s in (sys.argv[2] if len(sys.argv) > 2 else "64,256,256").split(","))

t0 = time.perf_counter()
names = sorted((n for n in os.listdir(folder) if re.fullmatch(r"\d+\.jpe?g", n, re.I)), key=lambda n: int(n.split(".")[0]))
volume = np.stack([cv2.imread(os.path.join(folder, n), cv2.IMREAD_GRAYSCALE) for n in names])
t1 = time.perf_counter()
d, rows, cols = shape
n = volume.shape[0]
src = np.maximum((np.arange(d) + 0.5) * n / d - 0.5, 0)
lo = np.minimum(np.floor(src).astype(int), n - 1)
hi = np.minimum(lo + 1, n - 1)
w = (src - lo).astype(np.float32)[:, None, None]
along = volume[lo].astype(np.float32) * (1 - w) + volume[hi].astype(np.float32) * w
out = np.stack([cv2.resize(s, (cols, rows), interpolation=cv2.INTER_LINEAR) for s in along])
t2 = time.perf_counter()
print(json.dumps({
    "tool": "opencv+numpy",
    "slices": int(volume.shape[0]),
    "readMs": (t1 - t0) * 1000,
    "resampleMs": (t2 - t1) * 1000,
    "totalMs": (t2 - t0) * 1000,
    "peakRssMb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "checksum": float(out.ravel()[::997].sum()),
}))
