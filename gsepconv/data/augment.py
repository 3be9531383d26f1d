"""Named training augmentations (off by default).

They act on a float image ``[C, H, W]`` in ``[0, 1]`` *before* normalisation, so padding and
rotation fill with black. Randomness comes from torch's global generator (seeded per
``DataLoader`` worker by PyTorch).

    ==============  =======================================================================
    name            effect
    ==============  =======================================================================
    ``rotate``      rotation by an angle uniform in [-180, 180) degrees, bilinear, zero fill
    ``rotate_flip`` ``rotate`` then a random horizontal flip (p = 0.5)
    ``crop_flip``   random crop of the original size after zero-padding 4 pixels on each side,
                    then a random horizontal flip (the standard CIFAR augmentation)
    ``flip``        random horizontal flip (p = 0.5)
    ==============  =======================================================================
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["AUGMENTATIONS", "resolve_augmentation", "build_augmentation"]

AUGMENTATIONS: tuple[str, ...] = ("rotate", "rotate_flip", "crop_flip", "flip")


def resolve_augmentation(augment: bool | str | None, default: str | None, dataset: str) -> str | None:
    """Map the ``augment`` argument to a name: ``False``/``None``/``"none"`` -> ``None``,
    ``True`` -> the dataset's default, a name -> itself (checked)."""
    if augment is None or augment is False or augment == "none":
        return None
    if augment is True:
        if default is None:
            raise ValueError(f"{dataset} has no default augmentation; pass augment=<name> with one of {AUGMENTATIONS}")
        return default
    if isinstance(augment, str) and augment in AUGMENTATIONS:
        return augment
    raise ValueError(f"unknown augmentation {augment!r}; known: {AUGMENTATIONS} (or True/False)")


def build_augmentation(name: str | None, image_size: tuple[int, int]) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The callable for augmentation ``name`` (``None`` -> ``None``); maps ``[C, H, W]`` -> ``[C, H, W]``."""
    if name is None:
        return None
    from torchvision import transforms as T  # lazily: torchvision takes ~1.5 s to import

    bilinear = T.InterpolationMode.BILINEAR
    if name == "rotate":
        return T.RandomRotation(degrees=(-180.0, 180.0), interpolation=bilinear, fill=0.0)
    if name == "rotate_flip":
        return T.Compose(
            [T.RandomRotation(degrees=(-180.0, 180.0), interpolation=bilinear, fill=0.0), T.RandomHorizontalFlip()]
        )
    if name == "crop_flip":
        return T.Compose([T.RandomCrop(tuple(image_size), padding=4, fill=0), T.RandomHorizontalFlip()])
    if name == "flip":
        return T.RandomHorizontalFlip()
    raise ValueError(f"unknown augmentation {name!r}; known: {AUGMENTATIONS}")
