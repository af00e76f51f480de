r"""Models of the study: S2CNN classifier/segmenter, planar CNN baselines, parameter matching, the model registry.

The model interface
-------------------
Every model is a plain ``torch.nn.Module`` that the training code (tasks, callbacks, equivariance tooling) uses
through four attributes:

``bandwidth`` : int
    The input bandwidth b. The input is a ``[B, in_channels, 2b, 2b]`` signal on the SOFT grid, indexed
    ``(beta, alpha)`` (see :mod:`sphere_study.harmonics`). Any other shape raises ``ValueError`` naming the expected
    and the actual shape.
``in_channels`` : int
    Number of input channels.
``num_classes`` : int
    Number of output classes.
``output_kind`` : ``"logits"`` or ``"s2_logits"``
    ``"logits"``: the output is ``[B, num_classes]`` class logits, meant to be invariant under rotations of the input
    (exactly so, up to discretisation, for the S2CNN classifier; only learned for planar CNNs).
    ``"s2_logits"``: the output is ``[B, num_classes, 2b, 2b]`` per-pixel logits on the same S² grid as the input,
    meant to be equivariant, :math:`\Phi(L_Q f) = L_Q \Phi(f)`.

:func:`check_model_interface` checks these; :func:`build_model` applies it to every model it returns, and
:func:`check_s2_image` is the shared input check.

Building models
---------------
``build_model("cnn_seg_218k", bandwidth=30)`` (a registered preset with overrides),
``build_model({"class_path": "sphere_study.models.CNNSegmenter", "init_args": {...}})``, or
``build_model({"name": "cnn_seg_218k", "init_args": {"bandwidth": 30}})``; :func:`available_models` lists the
presets. A model module registers its presets with :func:`register_model` when it is imported below.

Parameter matching
------------------
:func:`count_parameters` counts trainable parameters; :func:`match_width` scales a network's channel widths to a
target count (within 2 % by default).

Compute
-------
:func:`count_training_flops` counts the FLOPs of one training step (forward + backward of one batch) by running it on
a copy of the network; what it counts and omits is stated in :mod:`sphere_study.models._flops`
(:data:`FLOPS_COUNTED_BY`, :data:`FLOPS_OMIT`).
"""

from ._cnn import CNNClassifier, CNNSegmenter
from ._flops import FLOPS_COUNTED_BY, FLOPS_OMIT, TrainingFlops, count_training_flops
from ._interface import MODEL_INTERFACE, OUTPUT_KINDS, check_model_interface, check_s2_image
from ._params import WidthMatch, count_parameters, match_width, scale_widths
from ._registry import ModelPreset, available_models, build_model, get_preset, register_model
from ._s2cnn import S2CNNClassifier, S2CNNSegmenter, kernel_grid

__all__ = [
    # interface
    "MODEL_INTERFACE",
    "OUTPUT_KINDS",
    "check_model_interface",
    "check_s2_image",
    # spherical CNNs
    "S2CNNClassifier",
    "S2CNNSegmenter",
    "kernel_grid",
    # planar baselines
    "CNNClassifier",
    "CNNSegmenter",
    # parameters
    "WidthMatch",
    "count_parameters",
    "match_width",
    "scale_widths",
    # compute
    "FLOPS_COUNTED_BY",
    "FLOPS_OMIT",
    "TrainingFlops",
    "count_training_flops",
    # registry
    "ModelPreset",
    "available_models",
    "build_model",
    "get_preset",
    "register_model",
]
