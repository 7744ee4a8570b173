"""Training losses beyond plain cross-entropy: soft Dice for segmentation."""

from __future__ import annotations

import paddle
from paddle.nn import functional as F

SMOOTH = 1e-5  # keeps Dice defined (and 1) for a class absent from both prediction and truth


def soft_dice_loss(logits: paddle.Tensor, masks: paddle.Tensor, ignore_index: int) -> paddle.Tensor:
    """``1 - mean over the foreground classes c = 1..K-1 of (2 I_c + s) / (U_c + s)``.

    ``logits`` ``[B, K, H, W]``, ``masks`` ``[B, H, W]`` class indices (``ignore_index`` left
    out). With ``p = softmax(logits)`` over K and ``y`` the one-hot masks, summed over the
    batch's pixels: ``I_c = sum p_c y_c`` and ``U_c = sum p_c + sum y_c`` (Swin-Unet's and
    TransUNet's Dice, without the background class); ``s`` is :data:`SMOOTH` (1e-5).
    """
    classes = logits.shape[1]
    valid = (masks != ignore_index).astype(logits.dtype)  # (B, H, W)
    labels = paddle.where(masks == ignore_index, paddle.zeros_like(masks), masks)
    truth = F.one_hot(labels, classes).transpose([0, 3, 1, 2]) * valid.unsqueeze(1)  # (B,K,H,W)
    probs = F.softmax(logits, axis=1) * valid.unsqueeze(1)
    intersection = (probs * truth).sum(axis=[0, 2, 3])[1:]  # (K-1,)
    union = probs.sum(axis=[0, 2, 3])[1:] + truth.sum(axis=[0, 2, 3])[1:]
    return 1 - ((2 * intersection + SMOOTH) / (union + SMOOTH)).mean()
