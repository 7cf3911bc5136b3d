"""Golden fixtures: a real framework's run recorded once (native weights, inputs, outputs,
gradients), replayed later with NumPy alone, and the drift between a re-run and its record
bounded in ULPs."""
