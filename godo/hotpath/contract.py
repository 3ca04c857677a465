"""The hot path's own bounds, the same in both twins so they agree on every input.

What the records say and what godo makes of them is the vocabulary (godo.vocab);
these keep a pipeline's memory finite whatever it is fed.
"""

MAX_LINE = 1 << 16  # the kernel's longest record is 8970 bytes; ENRICHED adds less
MAX_BYTES = 64 << 20  # default budget of the record text held by events in flight
RECORD_COST = 64  # what keeping one record costs besides its text
MAX_ERRORS_KEPT = 100
