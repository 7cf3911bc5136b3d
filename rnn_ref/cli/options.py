"""The layer's option flags (design section 2a), shared by every command that takes a layer."""

from __future__ import annotations

import argparse
from typing import Any

from rnn_ref.core.activations import KINDS
from rnn_ref.core.spec import MERGE_MODES


def add_option_arguments(parser: argparse.ArgumentParser) -> None:
    options = parser.add_argument_group("options (design section 2a; default: the mode's own equations)")
    options.add_argument("--activations", type=_names, metavar="F,G[,H]",
                         help="ONNX activation names in ONNX's order: LSTM f,g,h; GRU f,g; RNN f "
                              f"({', '.join(KINDS)})")
    options.add_argument("--activation-alpha", type=_numbers, metavar="A,A[,A]",
                         help="one alpha per activation (ignored by those without one; default ONNX's)")
    options.add_argument("--activation-beta", type=_numbers, metavar="B,B[,B]",
                         help="one beta per activation (ignored by those without one; default ONNX's)")
    options.add_argument("--clip", type=float, help="cell clip: every pre-activation clipped to [-CLIP, CLIP]")
    options.add_argument("--peepholes", action="store_true", help="LSTM peepholes (w_peep.i, w_peep.f, w_peep.o)")
    options.add_argument("--input-forget", action="store_true", help="LSTM coupled gates: f = 1 - i")
    options.add_argument("--reverse", action="store_true",
                         help="a unidirectional layer that reads from each sample's last step (its keys are l*.bwd.*)")
    options.add_argument("--merge-mode", choices=MERGE_MODES, default="concat",
                         help="how a bidirectional layer's two outputs combine (default concat)")


def _names(text: str) -> tuple[str, ...]:
    """``Sigmoid,Tanh,Tanh`` -> a tuple of names (checked by RNNSpec)."""
    return tuple(name.strip() for name in text.split(","))


def _numbers(text: str) -> tuple[float, ...]:
    """``0.2,0.01,0`` -> floats; anything else is a usage error naming the value."""
    try:
        return tuple(float(value) for value in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of numbers") from None


def option_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The RNNSpec option fields the option arguments give (those a parser lacks: defaults)."""
    return dict(
        activations=getattr(args, "activations", None),
        activation_alpha=getattr(args, "activation_alpha", None),
        activation_beta=getattr(args, "activation_beta", None),
        clip=getattr(args, "clip", None),
        peepholes=getattr(args, "peepholes", False),
        input_forget=getattr(args, "input_forget", False),
        reverse=getattr(args, "reverse", False),
        merge_mode=getattr(args, "merge_mode", "concat"),
    )
