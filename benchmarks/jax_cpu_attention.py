"""Minimal reproduction: on the CPU, `jax.nn.dot_product_attention` (the XLA
implementation, which Keras's JAX backend calls) runs a ViT's attention
slower than the same maths written one head at a time.

Pure JAX (no Keras, no keras_vit), at ViT-Ti/16's (3 heads) or ViT-S/16's
(6 heads) shapes: batch 16, 197 tokens, head size 64, float32. It times the
forward pass and the gradient with respect to q, k and v of

- `jax.nn.dot_product_attention(q, k, v)`;
- the per-head form, what `keras_vit.layers.attention_kernel` computes on
  JAX CPUs: for each head, `softmax(q_h k_h^T / sqrt(d)) v_h` with
  batch-only matmuls over the head's slice.

    python benchmarks/jax_cpu_attention.py                 # 3 and 6 heads
    python benchmarks/jax_cpu_attention.py --heads 12 --batch-size 8

It prints the CPU line, each form's milliseconds per call and GFLOP/s (the
four matmuls: 4 x batch x heads x tokens^2 x head size FLOPs forward, 3x
that for forward and gradient), and checks that both forms agree.
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from speed import cpu_info, format_cpu  # noqa: E402

TOKENS, HEAD_DIM = 197, 64


def forms():
    import jax
    import jax.numpy as jnp

    def library(q, k, v):
        return jax.nn.dot_product_attention(q, k, v, implementation="xla")

    def per_head(q, k, v):
        scale = 1.0 / jnp.sqrt(q.shape[-1]).astype(q.dtype)
        contexts = []
        for head in range(q.shape[2]):
            logits = jnp.einsum("btd,bsd->bts", q[:, :, head] * scale, k[:, :, head])
            contexts.append(jnp.einsum("bts,bsd->btd", jax.nn.softmax(logits, axis=-1), v[:, :, head]))
        return jnp.stack(contexts, axis=2)

    return {"jax.nn.dot_product_attention": library, "per head": per_head}


def _median_seconds(fn, args, repeats):
    import jax

    for _ in range(3):
        jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heads", nargs="+", type=int, default=[3, 6])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args(argv)
    for name in ("batch_size", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if any(h < 1 for h in args.heads):
        parser.error(f"--heads must be >= 1, got {args.heads}")
    import jax
    import jax.numpy as jnp
    import numpy as np

    print(f"CPU: {format_cpu(cpu_info())}. jax {jax.__version__} on {jax.devices()[0].platform}.")
    for heads in args.heads:
        rng = np.random.default_rng(0)
        q, k, v = (jnp.asarray(rng.standard_normal((args.batch_size, TOKENS, heads, HEAD_DIM)), jnp.float32)
                   for _ in range(3))
        flops = 4 * args.batch_size * heads * TOKENS * TOKENS * HEAD_DIM
        outputs = {}
        print(f"\n{heads} heads, batch {args.batch_size}, {TOKENS} tokens, head size {HEAD_DIM}:")
        for name, fn in forms().items():
            forward = jax.jit(fn)
            gradient = jax.jit(jax.grad(lambda q, k, v, fn=fn: jnp.sum(jnp.sin(fn(q, k, v))), argnums=(0, 1, 2)))
            outputs[name] = np.asarray(forward(q, k, v))
            t_forward = _median_seconds(forward, (q, k, v), args.repeats)
            t_gradient = _median_seconds(gradient, (q, k, v), args.repeats)
            print(f"  {name:30s} forward {1e3 * t_forward:7.1f} ms ({flops / t_forward / 1e9:5.1f} GFLOP/s)   "
                  f"forward + gradient {1e3 * t_gradient:7.1f} ms ({3 * flops / t_gradient / 1e9:5.1f} GFLOP/s)")
        first, second = outputs.values()
        print(f"  largest difference between the forms: {np.max(np.abs(first - second)):.2e}")


if __name__ == "__main__":
    main()
