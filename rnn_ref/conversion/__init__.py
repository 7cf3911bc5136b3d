"""Weight-file conversion between engines through canonical params, and ``--verify``: both
sides run on seeded inputs and judged like a case. The file formats themselves are declared
by the engine families (rnn_ref/adapters/<family>/)."""
