"""minidiff's dtype names, shared by the Python layers (the native core defines the dtypes)."""

# The float dtypes, and the 16-bit ones among them: stored in 16 bits, computed in float32 and
# rounded once, as torch's bfloat16 and float16 kernels compute.
FLOAT_DTYPES = ("float32", "bfloat16", "float16")
LOW_FLOATS = ("bfloat16", "float16")
# torch's promotion kinds: a result of a higher kind wins (bool < int < float)
KINDS = {"bool": 0, "int64": 1, "float32": 2, "bfloat16": 2, "float16": 2}
# the largest finite value of each float dtype
FLOAT_MAX = {"float32": 3.4028234663852886e38, "bfloat16": 3.3895313892515355e38, "float16": 65504.0}
