"""Training losses (``md.losses``): mean squared error and the diffusion regression targets.

A diffusion model is trained to regress one of three quantities from a noised image
``x_t = sqrt(alpha_bar_t) * x0 + sqrt(1 - alpha_bar_t) * noise``: the noise itself ("epsilon",
Ho et al. 2020), the velocity ``sqrt(alpha_bar_t) * noise - sqrt(1 - alpha_bar_t) * x0``
("v_prediction", Salimans & Ho 2022) or the clean image ("sample"). ``prediction_target`` gives
the target for each, ``diffusion_loss`` the MSE against it; the sampler must be configured with
the same ``prediction_type`` the model was trained with.
"""

from __future__ import annotations

from . import _core
from . import functional as F

__all__ = ["PREDICTION_TYPES", "diffusion_loss", "mse_loss", "prediction_target"]

PREDICTION_TYPES = ("epsilon", "v_prediction", "sample")


def mse_loss(predicted, target, reduction: str = "mean"):
    """Mean squared error ``mean((predicted - target) ** 2)`` as a differentiable md tensor.

    ``reduction`` is "mean" (a scalar), "sum" (a scalar) or "none" (elementwise).
    """
    for name, value in (("predicted", predicted), ("target", target)):
        if not isinstance(value, _core.Tensor):
            raise TypeError(f"mse_loss: {name} must be an md tensor, got {type(value).__name__}")
    if tuple(predicted.shape) != tuple(target.shape):
        raise ValueError(
            f"mse_loss: predicted has shape {tuple(predicted.shape)} but target has shape {tuple(target.shape)}"
        )
    return F.mse_loss(predicted, target, reduction=reduction)


def prediction_target(prediction_type: str, scheduler, original_samples, noise, timesteps):
    """What the model should output for ``prediction_type`` at the given noising.

    ``original_samples`` are the clean images x0 (B, C, H, W), ``noise`` the Gaussian noise that
    ``scheduler.add_noise`` mixed in and ``timesteps`` the per-image timesteps (B,).
    """
    if prediction_type == "epsilon":
        return noise
    if prediction_type == "v_prediction":
        return scheduler.get_velocity(original_samples, noise, timesteps)
    if prediction_type == "sample":
        return original_samples
    raise ValueError(
        f"prediction_target: prediction_type must be one of {list(PREDICTION_TYPES)}, got {prediction_type!r}"
    )


def diffusion_loss(model_output, prediction_type: str, scheduler, original_samples, noise, timesteps):
    """MSE between ``model_output`` and the target of ``prediction_type`` (a scalar md tensor)."""
    target = prediction_target(prediction_type, scheduler, original_samples, noise, timesteps)
    return mse_loss(model_output, target)
