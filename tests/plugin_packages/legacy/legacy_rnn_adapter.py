"""An adapter written against the Adapter base class as it was before plug-ins existed.

It imports from the module paths of that time and implements only the methods of that
time. Its "engine" is a plain NumPy LSTM computing in the input's dtype (the reference at
``precision='input'``), with parameters named like a fused torch layer. LSTM in float32 with at
most 32 hidden units, as custom kernels often are: the rest is declared unsupported.
"""

from rnn_ref.adapters.base import Adapter
from rnn_ref.mapping import build_mapping, fused_unit_rows
from rnn_ref.reference import forward

LSTM_ONLY = "legacy-rnn implements LSTM only"
FLOAT32_ONLY = "legacy-rnn computes in float32 only"
SMALL_ONLY = "legacy-rnn's kernel holds at most 32 hidden units"


class LegacyRNNAdapter(Adapter):
    name = "legacy-rnn"
    limits = (LSTM_ONLY, FLOAT32_ONLY, SMALL_ONLY)

    def version(self):
        return "legacy-rnn 1.0"

    def unsupported_reason(self, spec, dtype, with_lengths):
        if spec.mode != "lstm":
            return LSTM_ONLY
        if dtype != "float32":
            return FLOAT32_ONLY
        return SMALL_ONLY if spec.hidden_size > 32 else None

    def mapping(self, spec):
        return build_mapping(self.name, spec, lambda layer, direction: fused_unit_rows(
            spec, layer, direction, lambda kind: f"{kind}_{layer}_{direction}"))

    def build(self, spec, params):
        self.check_supported(spec, str(params.dtype), with_lengths=False)
        return self.mapping(spec).to_native(params)

    def native_arrays(self, spec, layer):
        return {name: array.copy() for name, array in layer.items()}

    def run(self, spec, layer, x, initial_state=None, lengths=None):
        params = self.mapping(spec).to_params(layer)
        return forward(spec, params, x, initial_state, lengths, precision="input")
