"""Dtype of a network's output layer."""


def output_dtype(dtype_policy):
    """float32 under a mixed policy (logits and images leave the network in full precision),
    else the network's own policy (a float64 network stays float64 to its output)."""
    if dtype_policy.compute_dtype in ("float16", "bfloat16"):
        return "float32"
    return dtype_policy
