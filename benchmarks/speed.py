"""Training and inference throughput of keras_vit against keras-hub's ViT and
timm, measured in one run on this machine.

Every contender runs in its own subprocess (one Keras backend per process,
a clean peak-memory reading per model), with the same batch size,
resolution, precision, warm-up and number of timed steps; the figure is
the median step time. It prints a table with the ratios keras_vit / peer
and saves everything as JSON.

    python benchmarks/speed.py                                   # Ti/16 and S/16, 224 px, batch 16, fp32
    python benchmarks/speed.py --models vit_base_patch16_224 --batch-size 64 --precision bf16 --device gpu

Peers are optional (`pip install -e ".[benchmarks]"`: keras-hub, timm); a
missing one is skipped with a note.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

MODELS = {
    # name: (variant, patch size)
    "vit_tiny_patch16_224": ("Ti", 16),
    "vit_small_patch16_224": ("S", 16),
    "vit_base_patch16_224": ("B", 16),
    "vit_large_patch16_224": ("L", 16),
    "vit_huge_patch14_224": ("H", 14),
}
SIZES = {  # hidden, blocks, heads, mlp
    "Ti": (192, 12, 3, 768), "S": (384, 12, 6, 1536), "B": (768, 12, 12, 3072),
    "L": (1024, 24, 16, 4096), "H": (1280, 32, 16, 5120),
}
CONTENDERS = ("keras_vit", "keras_hub", "timm")
KERAS_BACKENDS = ("tensorflow", "jax", "torch")
CLASSES = 1000


def forward_flops(model, image_size):
    """Analytic FLOPs (2 x multiply-adds) of one image's forward pass."""
    variant, patch = MODELS[model]
    d, layers, _, m = SIZES[variant]
    n = (image_size // patch) ** 2 + 1
    macs = (n - 1) * patch * patch * 3 * d  # patch projection
    macs += layers * (4 * n * d * d + 2 * n * n * d + 2 * n * d * m)  # qkv+proj, scores+context, MLP
    macs += d * CLASSES
    return 2 * macs


def matmul_gflops(size=2048, repeats=5):
    """This machine's fp32 matmul throughput through NumPy's BLAS."""
    import numpy as np

    a = np.random.default_rng(0).standard_normal((size, size)).astype("float32")
    a @ a
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ a
        times.append(time.perf_counter() - start)
    return 2 * size**3 / min(times) / 1e9


# ---------------------------------------------------------------- workers


def _peak_memory_mb(framework, device):
    import resource

    if device == "gpu":
        if framework == "torch":
            import torch

            return torch.cuda.max_memory_allocated() / 2**20
        if framework == "jax":
            import jax

            return jax.devices()[0].memory_stats()["peak_bytes_in_use"] / 2**20
        import tensorflow as tf

        return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _time_steps(step, warmup, steps):
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _keras_model(contender, model, image_size, precision):
    import keras

    if precision != "fp32":
        keras.config.set_dtype_policy("mixed_bfloat16" if precision == "bf16" else "mixed_float16")
    variant, patch = MODELS[model]
    if contender == "keras_vit":
        import keras_vit

        return keras_vit.vit(f"{variant}/{patch}", input_shape=(image_size, image_size, 3),
                             classes=CLASSES, classifier_activation=None)
    import keras_hub

    d, layers, heads, m = SIZES[variant]
    backbone = keras_hub.models.ViTBackbone(
        image_shape=(image_size, image_size, 3), patch_size=patch, num_layers=layers,
        num_heads=heads, hidden_dim=d, mlp_dim=m, layer_norm_epsilon=1e-6,
    )
    images = keras.Input((image_size, image_size, 3))
    tokens = backbone(images)
    logits = keras.layers.Dense(CLASSES, dtype="float32", name="head")(tokens[:, 0])
    return keras.Model(images, logits)


def run_keras(contender, model, args):
    import keras
    import numpy as np

    net = _keras_model(contender, model, args.image_size, args.precision)
    net.compile(
        optimizer=keras.optimizers.AdamW(1e-4, weight_decay=0.05),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=True if keras.backend.backend() != "torch" else False,
    )
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (args.batch_size, args.image_size, args.image_size, 3)).astype("float32")
    y = rng.integers(0, CLASSES, (args.batch_size,))
    train = _time_steps(lambda: net.train_on_batch(x, y), args.warmup, args.steps)
    infer = _time_steps(lambda: np.asarray(net.predict_on_batch(x)), args.warmup, args.steps)
    return dict(params=int(net.count_params()), train_step_s=train, infer_step_s=infer,
                peak_memory_mb=_peak_memory_mb(keras.backend.backend(), args.device))


def run_timm(model, args):
    import timm
    import torch

    device = "cuda" if args.device == "gpu" else "cpu"
    net = timm.create_model(model, pretrained=False, num_classes=CLASSES).to(device)
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-4, weight_decay=0.05)
    x = torch.rand(args.batch_size, 3, args.image_size, args.image_size, device=device) * 2 - 1
    y = torch.randint(0, CLASSES, (args.batch_size,), device=device)
    autocast = (torch.autocast(device, dtype=torch.bfloat16 if args.precision == "bf16" else torch.float16)
                if args.precision != "fp32" else None)
    scaler = torch.amp.GradScaler(device) if args.precision == "fp16" else None

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    def train_step():
        net.train()
        optimizer.zero_grad(set_to_none=True)
        if autocast is not None:
            with autocast:
                loss = torch.nn.functional.cross_entropy(net(x).float(), y)
        else:
            loss = torch.nn.functional.cross_entropy(net(x), y)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        loss.item()
        sync()

    def infer_step():
        net.eval()
        with torch.inference_mode():
            if autocast is not None:
                with autocast:
                    net(x).float().cpu()
            else:
                net(x).cpu()
        sync()

    train = _time_steps(train_step, args.warmup, args.steps)
    infer = _time_steps(infer_step, args.warmup, args.steps)
    return dict(params=sum(p.numel() for p in net.parameters()), train_step_s=train,
                infer_step_s=infer, peak_memory_mb=_peak_memory_mb("torch", args.device))


def worker(args):
    try:
        if args.contender == "timm":
            result = run_timm(args.model, args)
        else:
            result = run_keras(args.contender, args.model, args)
        result["status"] = "ok"
    except ImportError as error:
        result = {"status": f"skipped: {error.name or error} is not installed"}
    print("RESULT " + json.dumps(result), flush=True)


# ---------------------------------------------------------------- driver


def measure(contender, backend, model, args):
    env = dict(os.environ)
    if backend in KERAS_BACKENDS:
        env["KERAS_BACKEND"] = backend
    if args.device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    command = [sys.executable, __file__, "--worker", "--contender", contender, "--model", model,
               "--batch-size", str(args.batch_size), "--image-size", str(args.image_size),
               "--precision", args.precision, "--warmup", str(args.warmup), "--steps", str(args.steps),
               "--device", args.device]
    started = time.time()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    lines = [l for l in done.stdout.splitlines() if l.startswith("RESULT ")]
    if not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return {"status": "failed: " + " | ".join(tail)}
    result = json.loads(lines[-1][len("RESULT "):])
    result["wall_s"] = round(time.time() - started, 1)
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["vit_tiny_patch16_224", "vit_small_patch16_224"],
                        choices=sorted(MODELS))
    parser.add_argument("--backends", nargs="+", default=list(KERAS_BACKENDS), choices=KERAS_BACKENDS)
    parser.add_argument("--peers", nargs="*", default=["keras_hub", "timm"], choices=["keras_hub", "timm"])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--precision", choices=("fp32", "bf16", "fp16"), default="fp32")
    parser.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps (compilation) per measurement")
    parser.add_argument("--steps", type=int, default=10, help="timed steps; the median is reported")
    parser.add_argument("--output", default="benchmarks/results/speed.json")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--contender", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args)
    for name in ("batch_size", "image_size", "steps"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    if os.path.exists(args.output):
        parser.error(f"{args.output} exists; pass another --output (results are never overwritten)")

    gflops = matmul_gflops()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"NumPy fp32 matmul {gflops:.1f} GFLOP/s")
    runs = []
    for model in args.models:
        flops = forward_flops(model, args.image_size)
        jobs = [("keras_vit", b) for b in args.backends]
        if "keras_hub" in args.peers:
            jobs += [("keras_hub", b) for b in args.backends]
        if "timm" in args.peers:
            jobs.append(("timm", "torch-eager"))
        for contender, backend in jobs:
            print(f"  {model} {contender} ({backend}) ...", flush=True)
            result = measure(contender, backend, model, args)
            result.update(model=model, contender=contender, backend=backend)
            if result["status"] == "ok":
                for kind, factor in (("train", 3), ("infer", 1)):
                    seconds = result[f"{kind}_step_s"]
                    result[f"{kind}_images_per_s"] = args.batch_size / seconds
                    result[f"{kind}_gflops_per_s"] = factor * flops * args.batch_size / seconds / 1e9
            runs.append(result)
    report = dict(settings=vars(args), matmul_gflops_per_s=gflops, runs=runs,
                  python=platform.python_version())
    print_table(report)
    os.makedirs(os.path.dirname(args.output) or ".", exist_ok=True)
    with open(args.output, "w") as handle:
        json.dump(report, handle, indent=2)
    print(f"saved {args.output}")


def print_table(report):
    gflops = report["matmul_gflops_per_s"]
    print("\n| model | contender | backend | train img/s | infer img/s | train GFLOP/s (% of matmul) "
          "| peak MB | train ratio keras_vit/this | infer ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    ours = {(r["model"], r["backend"]): r for r in report["runs"]
            if r["contender"] == "keras_vit" and r["status"] == "ok"}
    best_ours = {}
    for (model, _), r in ours.items():
        if model not in best_ours or r["train_images_per_s"] > best_ours[model]["train_images_per_s"]:
            best_ours[model] = r
    for r in report["runs"]:
        if r["status"] != "ok":
            print(f"| {r['model']} | {r['contender']} | {r['backend']} | {r['status']} |||||")
            continue
        mine = ours.get((r["model"], r["backend"])) or best_ours.get(r["model"])
        ratio = ("" if r["contender"] == "keras_vit" or mine is None else
                 f"{mine['train_images_per_s'] / r['train_images_per_s']:.2f}x")
        ratio_inf = ("" if r["contender"] == "keras_vit" or mine is None else
                     f"{mine['infer_images_per_s'] / r['infer_images_per_s']:.2f}x")
        print(f"| {r['model']} | {r['contender']} | {r['backend']} | {r['train_images_per_s']:.1f} | "
              f"{r['infer_images_per_s']:.1f} | {r['train_gflops_per_s']:.1f} "
              f"({100 * r['train_gflops_per_s'] / gflops:.0f}%) | {r['peak_memory_mb']:.0f} | {ratio} | {ratio_inf} |")
    print("\nRatios compare keras_vit on the same Keras backend (keras-hub rows) or keras_vit's fastest "
          "backend (timm rows).")


if __name__ == "__main__":
    main()
