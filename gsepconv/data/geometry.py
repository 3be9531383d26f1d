"""Bit-reproducible image warps and random draws for the seeded MNIST variants.

Reproducibility argument (why the same bytes come out on every machine):

* Random numbers come from the raw 64-bit stream of ``numpy.random.PCG64(seed)``, whose output is
  fixed by its specification (unlike ``Generator`` methods, whose algorithms numpy may change
  between versions). Uniform doubles are ``(raw >> 11) * 2**-53``; permutations are the stable
  argsort of such doubles.
* Each per-image 2x2 inverse-warp matrix is rounded to a multiple of ``2**-16`` (a change of at
  most ``8e-6`` in any entry, far below a pixel). Then, on a 28x28 grid with half-integer centred
  coordinates and |entries| < 4, every later step of the bilinear warp -- source coordinates,
  floors, fractional parts (multiples of ``2**-17``), products of weights (``2**-34``) times 8-bit
  pixels, and their sums (< 256) -- is *exact* in float64, so the result does not depend on
  operation order, SIMD or BLAS. Only the rounding of ``cos``/``sin`` could differ by one ulp
  between libms, and after the ``2**-16`` rounding that changes a matrix only if a value lies within
  ~1e-16 of a rounding boundary (probability ~1e-11 per image). A pinned sha256 detects it anyway.
* The final round to uint8 is round-half-to-even (:func:`numpy.rint`) of an exact value.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "MATRIX_QUANTUM",
    "RandomStream",
    "rotation_matrices",
    "scale_matrices",
    "quantize",
    "warp_bilinear",
]

#: Inverse-warp matrices are rounded to multiples of this (see the module docstring).
MATRIX_QUANTUM = 2.0**-16


class RandomStream:
    """Portable random draws from the raw stream of ``numpy.random.PCG64(seed)``."""

    def __init__(self, seed: int) -> None:
        self._bits = np.random.PCG64(seed)

    def uniform(self, n: int, low: float = 0.0, high: float = 1.0) -> np.ndarray:
        """``n`` float64 draws, uniform in ``[low, high)``; shape ``[n]``."""
        raw = np.asarray(self._bits.random_raw(n), dtype=np.uint64)
        u = (raw >> np.uint64(11)).astype(np.float64) * 2.0**-53
        return low + (high - low) * u

    def permutation(self, n: int) -> np.ndarray:
        """A random permutation of ``range(n)`` (int64, shape ``[n]``)."""
        return np.argsort(self.uniform(n), kind="stable").astype(np.int64)


def quantize(a: np.ndarray, quantum: float = MATRIX_QUANTUM) -> np.ndarray:
    """Round to the nearest multiple of ``quantum`` (a power of two, so this is exact)."""
    return np.rint(np.asarray(a, dtype=np.float64) / quantum) * quantum


def rotation_matrices(angles: np.ndarray) -> np.ndarray:
    """Inverse-warp matrices ``[N, 2, 2]`` that rotate image content by ``angles`` (radians)
    counter-clockwise as displayed (row 0 at the top).

    In (x = column, y = row) coordinates an output pixel at offset ``p`` from the centre samples the
    input at ``A @ p`` with ``A = [[cos, -sin], [sin, cos]]``. ``math.cos``/``math.sin`` (the
    platform libm, correctly rounded in practice) are used element by element.
    """
    angles = np.asarray(angles, dtype=np.float64).reshape(-1)
    c = np.array([math.cos(t) for t in angles.tolist()], dtype=np.float64)
    s = np.array([math.sin(t) for t in angles.tolist()], dtype=np.float64)
    a = np.empty((angles.size, 2, 2), dtype=np.float64)
    a[:, 0, 0], a[:, 0, 1], a[:, 1, 0], a[:, 1, 1] = c, -s, s, c
    return a


def scale_matrices(scales: np.ndarray) -> np.ndarray:
    """Inverse-warp matrices ``[N, 2, 2]`` that shrink (s < 1) or enlarge content by ``scales``
    about the image centre: ``A = I / s``."""
    scales = np.asarray(scales, dtype=np.float64).reshape(-1)
    a = np.zeros((scales.size, 2, 2), dtype=np.float64)
    a[:, 0, 0] = a[:, 1, 1] = 1.0 / scales
    return a


def warp_bilinear(images: np.ndarray, matrices: np.ndarray, chunk: int = 4096, progress=None) -> np.ndarray:
    """Warp images about their centre with bilinear interpolation and zero padding.

    Args:
        images: uint8 ``[N, H, W]``.
        matrices: float64 ``[N, 2, 2]`` inverse maps (output offset -> input offset from the
            centre ``((W-1)/2, (H-1)/2)``, in (x=column, y=row) order); quantised with
            :func:`quantize` here, so callers need not.
        chunk: images per vectorised block (bounds memory: ~100 bytes per pixel).
        progress: optional callable ``progress(n_done)`` called after each block.

    Returns:
        uint8 ``[N, H, W]``: ``rint`` of the exact bilinear value; samples outside the image are 0.
    """
    images = np.ascontiguousarray(images, dtype=np.uint8)
    if images.ndim != 3:
        raise ValueError(f"images must be [N, H, W], got shape {images.shape}")
    n, h, w = images.shape
    a = quantize(matrices).reshape(n, 2, 2)
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    ys, xs = np.meshgrid(np.arange(h, dtype=np.float64) - cy, np.arange(w, dtype=np.float64) - cx, indexing="ij")
    xs, ys = xs.reshape(1, -1), ys.reshape(1, -1)  # [1, H*W]
    out = np.empty((n, h * w), dtype=np.uint8)
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        m = a[start:stop]
        src = images[start:stop].reshape(stop - start, h * w).astype(np.float64)
        # source coordinates [B, H*W]
        sx = m[:, 0, 0:1] * xs + m[:, 0, 1:2] * ys + cx
        sy = m[:, 1, 0:1] * xs + m[:, 1, 1:2] * ys + cy
        x0, y0 = np.floor(sx), np.floor(sy)
        fx, fy = sx - x0, sy - y0
        x0i, y0i = x0.astype(np.int64), y0.astype(np.int64)
        base = (np.arange(stop - start, dtype=np.int64) * (h * w))[:, None]
        acc = np.zeros_like(sx)
        for dy, wy in ((0, 1.0 - fy), (1, fy)):
            yi = y0i + dy
            ok_y = (yi >= 0) & (yi < h)
            for dx, wx in ((0, 1.0 - fx), (1, fx)):
                xi = x0i + dx
                ok = ok_y & (xi >= 0) & (xi < w)
                idx = base + np.clip(yi, 0, h - 1) * w + np.clip(xi, 0, w - 1)
                acc += np.where(ok, (wy * wx) * np.take(src, idx), 0.0)
        out[start:stop] = np.clip(np.rint(acc), 0, 255).astype(np.uint8)
        if progress is not None:
            progress(stop - start)
    return out.reshape(n, h, w)
