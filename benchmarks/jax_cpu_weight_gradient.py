"""Minimal reproduction: XLA:CPU runs a deep residual network's backward pass
slowly when JAX computes weight gradients with the cotangent as the left
operand, and the cost per block grows with depth.

Pure JAX (no Keras, no keras_vit): a stack of pre-LayerNorm residual MLP
blocks at ViT-Ti/16's shapes (batch 16, 197 tokens, width 192, MLP 768).
For `y = x @ w`, JAX's transpose rule computes `dw` as `dot(dy, x)`,
contracting the batch and token axes, which are the major axes of `dy`.
XLA:CPU lays that dot out by copying `dy` transposed and fuses into that
copy the elementwise ops that produced `dy` (GELU derivative, LayerNorm
backward, residual sums). The fused copy runs in transposed order, scalar
and strided, and the residual-sum chain of all later blocks is recomputed
inside each block's copy. `--form activation_first` computes the same
gradient as `dot(x, dy)` through a `jax.custom_vjp` (what
`keras_vit.layers.projection.project` does on the JAX backend), which moves
the transposed copy onto `x`.

    python benchmarks/jax_cpu_weight_gradient.py                 # both forms, 2/8/24 blocks
    python benchmarks/jax_cpu_weight_gradient.py --blocks 12 --form cotangent_first

It prints the gradient step time and the time per block; with the
cotangent-first form the time per block rises with depth.
"""

import argparse
import os
import platform
import statistics
import time

BATCH, TOKENS, WIDTH, MLP = 16, 197, 192, 768


def build(form):
    import jax
    import jax.numpy as jnp

    @jax.custom_vjp
    def activation_first(x, w):
        return jnp.einsum("btd,dm->btm", x, w)

    def forward(x, w):
        return activation_first(x, w), (x, w)

    def backward(saved, dy):
        x, w = saved
        return jnp.einsum("btm,dm->btd", dy, w), jnp.einsum("btd,btm->dm", x, dy)

    activation_first.defvjp(forward, backward)

    def cotangent_first(x, w):
        return jnp.einsum("btd,dm->btm", x, w)

    matmul = activation_first if form == "activation_first" else cotangent_first

    def layer_norm(x, gamma, beta):
        mean = jnp.mean(x, -1, keepdims=True)
        variance = jnp.mean(jnp.square(x - mean), -1, keepdims=True)
        return (x - mean) * jax.lax.rsqrt(variance + 1e-6) * gamma + beta

    def loss(params, x):
        for p in params:
            h = jax.nn.gelu(matmul(layer_norm(x, p["gamma"], p["beta"]), p["w1"]), approximate=False)
            x = x + matmul(h, p["w2"])
        return jnp.mean(jnp.square(x))

    return jax.jit(jax.grad(loss))


def time_gradient(form, blocks, repeats):
    import jax
    import jax.numpy as jnp
    import numpy as np

    rng = np.random.default_rng(0)
    params = [dict(gamma=jnp.ones(WIDTH), beta=jnp.zeros(WIDTH),
                   w1=jnp.asarray(rng.normal(0, 0.02, (WIDTH, MLP)), jnp.float32),
                   w2=jnp.asarray(rng.normal(0, 0.02, (MLP, WIDTH)), jnp.float32))
              for _ in range(blocks)]
    x = jnp.asarray(rng.normal(size=(BATCH, TOKENS, WIDTH)), jnp.float32)
    gradient = build(form)
    jax.block_until_ready(gradient(params, x))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(gradient(params, x))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def cpu_model():
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, nargs="+", default=[2, 8, 24])
    parser.add_argument("--form", nargs="+", default=["cotangent_first", "activation_first"],
                        choices=("cotangent_first", "activation_first"))
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    if any(b < 1 for b in args.blocks) or args.repeats < 1:
        parser.error("--blocks and --repeats must be >= 1")
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jax

    print(f"jax {jax.__version__}, {cpu_model()}, {os.cpu_count()} cores")
    for form in args.form:
        for blocks in args.blocks:
            seconds = time_gradient(form, blocks, args.repeats)
            print(f"{form:16s} blocks={blocks:3d}  {seconds * 1e3:8.1f} ms  {seconds * 1e3 / blocks:6.1f} ms/block",
                  flush=True)


if __name__ == "__main__":
    main()
