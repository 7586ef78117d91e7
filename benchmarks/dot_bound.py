"""The matrix multiplications of one ViT training step, each timed on its own
in JAX, PyTorch and NumPy: how fast each library multiplies at a ViT's
shapes, and the ceiling that puts on a training step's GFLOP/s.

A training step of ViT-Ti/16 at batch 16 multiplies small matrices: 3,152
tokens by a width of 192 (Ti) or 384 (S), where no BLAS reaches the speed
of the 2048 x 2048 matmul that `speed.py` reports as "% of matmul". This
script lists every matmul of the step with its operand layout (forward
`x @ w`, input gradient `dy @ w.T`, weight gradient `x.T @ dy`, the
attention's batched score and context products and their gradients, the
patch projection), times each shape alone in each library (jit-compiled
in JAX), and adds them up as the step would: the sum is the time the step
would take if it did nothing but these matmuls, at the speed the library
reaches on them alone. Its GFLOP/s is therefore an upper bound for a
training step in that library: if it is below a target, no rearrangement
of the model's program reaches the target in that library.

    python benchmarks/dot_bound.py                              # Ti/16 and S/16, batch 16
    python benchmarks/dot_bound.py --models S/16 --batch-size 32 --libraries jax numpy

Libraries that are not installed are skipped. The CPU line (model, cores,
AVX2/AVX-512/AMX flags) and NumPy's 2048 x 2048 fp32 matmul figure come
first, as in `speed.py`.
"""

import argparse
import os
import platform
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from speed import SIZES, cpu_info, format_cpu, matmul_gflops  # noqa: E402

LIBRARIES = ("jax", "torch", "numpy")
MODELS = {"Ti/16": ("Ti", 16), "S/16": ("S", 16), "B/16": ("B", 16)}
IMAGE_SIZE = 224


def step_matmuls(model, batch_size):
    """The matmuls of one training step of `model` ("Ti/16", "S/16",
    "B/16") at 224 px.

    Returns:
        A list of (name, count, batch, rows, inner, cols, layout): `count`
        products per step of `batch` independent (rows x inner) @
        (inner x cols) matmuls, with `layout` one of "ab" (a @ b), "abT"
        (a @ b.T, b stored as cols x inner) or "aTb" (a.T @ b, a stored as
        inner x rows). Their FLOPs add up to 3x `speed.forward_flops`
        (forward, input and weight gradients), less the 1000-class head
        and the patch projection's input gradient, which training does not
        need.
    """
    variant, patch = MODELS[model]
    d, layers, heads, m = SIZES[variant]
    patches = (IMAGE_SIZE // patch) ** 2
    tokens = batch_size * (patches + 1)
    n, hd = patches + 1, d // heads
    bh = batch_size * heads
    dense = [("q/k/v/output", 4 * layers, d, d), ("mlp fc1", layers, d, m), ("mlp fc2", layers, m, d)]
    out = []
    for name, count, fan_in, fan_out in dense:
        out += [(f"{name} forward", count, 1, tokens, fan_in, fan_out, "ab"),
                (f"{name} input grad", count, 1, tokens, fan_out, fan_in, "abT"),
                (f"{name} weight grad", count, 1, fan_in, tokens, fan_out, "aTb")]
    out += [("scores q.kT forward", layers, bh, n, hd, n, "abT"),
            ("scores grad dq = ds.k", layers, bh, n, n, hd, "ab"),
            ("scores grad dk = dsT.q", layers, bh, n, n, hd, "aTb"),
            ("context p.v forward", layers, bh, n, n, hd, "ab"),
            ("context grad dp = do.vT", layers, bh, n, hd, n, "abT"),
            ("context grad dv = pT.do", layers, bh, n, n, hd, "aTb"),
            ("patch projection forward", 1, 1, batch_size * patches, patch * patch * 3, d, "ab"),
            ("patch projection weight grad", 1, 1, patch * patch * 3, batch_size * patches, d, "aTb")]
    return out


def _shapes(batch, rows, inner, cols, layout):
    a = (inner, rows) if layout == "aTb" else (rows, inner)
    b = (cols, inner) if layout == "abT" else (inner, cols)
    if batch > 1:
        a, b = (batch,) + a, (batch,) + b
    return a, b


# Each layout as a function of (a, b, swap), `swap` transposing the last two
# axes as a view, so that each library picks its own kernel.
LAYOUTS = {"ab": lambda a, b, swap: a @ b, "abT": lambda a, b, swap: a @ swap(b),
           "aTb": lambda a, b, swap: swap(a) @ b}


def _product(library, layout):
    """A function of (a, b) computing the product in `layout` with
    `library` (jit-compiled in JAX, without autograd in PyTorch)."""
    fn = LAYOUTS[layout]
    if library == "jax":
        import jax
        import jax.numpy as jnp

        jitted = jax.jit(lambda a, b: fn(a, b, lambda t: jnp.swapaxes(t, -1, -2)))
        return lambda a, b: jitted(a, b).block_until_ready()
    if library == "torch":
        import torch

        def run(a, b):
            with torch.no_grad():
                return fn(a, b, lambda t: t.transpose(-1, -2))
        return run
    import numpy as np

    return lambda a, b: fn(a, b, lambda t: np.swapaxes(t, -1, -2))


def _array(library, shape, seed):
    import numpy as np

    value = np.random.default_rng(seed).standard_normal(shape).astype("float32")
    if library == "jax":
        import jax.numpy as jnp

        return jnp.asarray(value)
    if library == "torch":
        import torch

        return torch.from_numpy(value)
    return value


def time_product(library, batch, rows, inner, cols, layout, repeats):
    """Median seconds of one product, after warm-up (and compilation)."""
    a_shape, b_shape = _shapes(batch, rows, inner, cols, layout)
    a, b = _array(library, a_shape, 0), _array(library, b_shape, 1)
    product = _product(library, layout)
    for _ in range(3):
        product(a, b)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        product(a, b)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def installed(library):
    try:
        __import__(library)
    except ImportError:
        return False
    return True


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["Ti/16", "S/16"], choices=sorted(MODELS))
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--libraries", nargs="+", default=list(LIBRARIES), choices=LIBRARIES)
    parser.add_argument("--repeats", type=int, default=10, help="timed repeats per shape; the median is used")
    args = parser.parse_args(argv)
    for name in ("batch_size", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    return args


def main(argv=None):
    args = parse_args(argv)
    libraries = [lib for lib in args.libraries if installed(lib)]
    for lib in args.libraries:
        if lib not in libraries:
            print(f"{lib}: skipped, not installed")
    reference = matmul_gflops()
    print(f"CPU: {format_cpu(cpu_info())}. {platform.machine()}, NumPy fp32 matmul (2048) "
          f"{reference:.1f} GFLOP/s.")
    for model in args.models:
        matmuls = step_matmuls(model, args.batch_size)
        total = {lib: 0.0 for lib in libraries}
        flops = 0.0
        print(f"\n{model}, batch {args.batch_size}, 224 px: GFLOP/s of each matmul alone")
        print("| matmul | per step | shape | " + " | ".join(libraries) + " |")
        print("|---|---|---|" + "---|" * len(libraries))
        for name, count, batch, rows, inner, cols, layout in matmuls:
            each = 2.0 * batch * rows * inner * cols
            flops += count * each
            cells = []
            for lib in libraries:
                seconds = time_product(lib, batch, rows, inner, cols, layout, args.repeats)
                total[lib] += count * seconds
                cells.append(f"{each / seconds / 1e9:.0f}")
            shape = (f"{batch} x " if batch > 1 else "") + f"{rows}x{inner} @ {inner}x{cols} ({layout})"
            print(f"| {name} | {count} | {shape} | " + " | ".join(cells) + " |", flush=True)
        print(f"\n{model}: {flops / 1e9:.1f} GFLOP of matmuls per training step. If the step did "
              "nothing else, at each library's speed on these shapes:")
        for lib in libraries:
            rate = flops / total[lib] / 1e9
            print(f"  {lib:6s} {total[lib]:.3f} s/step, {rate:.1f} GFLOP/s = "
                  f"{100 * rate / reference:.0f}% of the 2048 matmul figure (the ceiling of a training step)")


if __name__ == "__main__":
    main()
