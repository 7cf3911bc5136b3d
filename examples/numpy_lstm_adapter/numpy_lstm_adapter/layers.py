"""A third-party-style NumPy recurrent library, written without rnn_ref in mind.

Its conventions are deliberately not rnn_ref's canonical ones:

* One cell per (layer, direction), weights in ``RecurrentStack.weights`` under
  ``layer{k}/{fw|bw}/kernel`` (input, gates·H), ``.../recurrent_kernel`` (H, gates·H) and
  ``.../bias`` (gates·H,): a step computes ``x @ kernel + h @ recurrent_kernel + bias``.
* Gates along the columns in the order LSTM ``o i f g``; GRU ``u r c`` (update, reset,
  candidate); plain RNN one block.
* One bias per gate.
* GRU is the original form: the reset gate multiplies h *before* the recurrent matmul,
  ``c = tanh(x @ K_c + (r * h) @ U_c + b_c)``, ``h' = u * h + (1 - u) * c``.
* Inputs are batch-major (N, T, I) only. Per-sample lengths: steps t >= length are not
  computed, their outputs are zeros, and the backward direction starts at length - 1.
* Initial and final states: a list over cells in the order layer0/fw, layer0/bw, layer1/fw,
  ...; each entry is ``h`` (N, H) or, for LSTM, the pair ``(h, c)``.
* Computes in the weights' dtype.
"""

from __future__ import annotations

import numpy as np

GATES = {"lstm": ("o", "i", "f", "g"), "gru": ("u", "r", "c"), "rnn": ("h",)}


def sigmoid(v: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-v))


class RecurrentStack:
    """``cell`` in ``lstm``, ``gru``, ``rnn``; ``activation`` (rnn only) ``tanh`` or ``relu``."""

    def __init__(self, cell: str, input_size: int, units: int, num_layers: int = 1, bidirectional: bool = False,
                 use_bias: bool = True, activation: str = "tanh", dtype: str = "float32") -> None:
        self.cell, self.units, self.activation = cell, units, activation
        self.directions = ("fw", "bw") if bidirectional else ("fw",)
        self.num_layers, self.use_bias = num_layers, use_bias
        gates = len(GATES[cell]) * units
        self.weights: dict[str, np.ndarray] = {}
        for layer in range(num_layers):
            features = input_size if layer == 0 else len(self.directions) * units
            for direction in self.directions:
                prefix = f"layer{layer}/{direction}"
                self.weights[f"{prefix}/kernel"] = np.zeros((features, gates), dtype)
                self.weights[f"{prefix}/recurrent_kernel"] = np.zeros((units, gates), dtype)
                if use_bias:
                    self.weights[f"{prefix}/bias"] = np.zeros(gates, dtype)

    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        for name, value in weights.items():
            if self.weights[name].shape != np.shape(value):
                raise ValueError(f"{name}: expected {self.weights[name].shape}, got {np.shape(value)}")
            self.weights[name] = np.array(value, dtype=self.weights[name].dtype)

    def step(self, prefix: str, x: np.ndarray, state: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
        kernel, recurrent = self.weights[f"{prefix}/kernel"], self.weights[f"{prefix}/recurrent_kernel"]
        bias = self.weights.get(f"{prefix}/bias", 0)
        H = self.units
        if self.cell == "lstm":
            h, c = state
            z = x @ kernel + h @ recurrent + bias
            o, i, f, g = sigmoid(z[:, :H]), sigmoid(z[:, H:2 * H]), sigmoid(z[:, 2 * H:3 * H]), np.tanh(z[:, 3 * H:])
            c = f * c + i * g
            return o * np.tanh(c), c
        if self.cell == "gru":
            (h,) = state
            xz = x @ kernel + bias
            u = sigmoid(xz[:, :H] + h @ recurrent[:, :H])
            r = sigmoid(xz[:, H:2 * H] + h @ recurrent[:, H:2 * H])
            candidate = np.tanh(xz[:, 2 * H:] + (r * h) @ recurrent[:, 2 * H:])
            return (u * h + (1 - u) * candidate,)
        pre = x @ kernel + state[0] @ recurrent + bias
        return (np.tanh(pre) if self.activation == "tanh" else np.maximum(pre, 0),)

    def __call__(self, x: np.ndarray, lengths: np.ndarray | None = None,
                 initial_states: list | None = None) -> tuple[np.ndarray, list]:
        """x (N, T, I) -> outputs (N, T, D·H) and the final state of every cell."""
        batch, steps, _ = x.shape
        dtype = next(iter(self.weights.values())).dtype
        lengths = np.full(batch, steps) if lengths is None else np.asarray(lengths)
        width = 2 if self.cell == "lstm" else 1
        finals: list = []
        seq = np.asarray(x, dtype=dtype)
        for layer in range(self.num_layers):
            outputs = []
            for direction in self.directions:
                unit = len(finals)
                if initial_states is None:
                    state = tuple(np.zeros((batch, self.units), dtype) for _ in range(width))
                else:
                    given = initial_states[unit]
                    state = tuple(np.asarray(s, dtype) for s in (given if width == 2 else (given,)))
                out = np.zeros((batch, steps, self.units), dtype)
                order = range(steps) if direction == "fw" else reversed(range(steps))
                for t in order:
                    valid = (t < lengths)[:, None]
                    new = self.step(f"layer{layer}/{direction}", seq[:, t], state)
                    state = tuple(np.where(valid, n, s) for n, s in zip(new, state, strict=True))
                    out[:, t] = np.where(valid, new[0], 0)
                outputs.append(out)
                finals.append(state if width == 2 else state[0])
            seq = np.concatenate(outputs, axis=-1)
        return seq, finals
