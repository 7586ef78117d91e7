"""Training and inference throughput of keras_vit against keras-hub's ViT and
timm, measured in one run on this machine.

Every measurement runs in its own subprocess (one Keras backend per process,
a clean peak-memory reading per model), with the same batch size,
resolution, precision, warm-up and number of timed steps; the figure is the
median step time. Training is a full optimizer step (AdamW, cross-entropy on
1000-class logits), inference a forward pass in inference mode. Keras models
run with `jit_compile=True` on TensorFlow and JAX (XLA) and eagerly on
PyTorch; timm runs eagerly. It prints a table with the ratios keras_vit /
peer and saves everything as JSON.

    python benchmarks/speed.py                      # Ti/16 and S/16, 224 px, batch 16, fp32, CPU
    python benchmarks/speed.py --models vit_base_patch16_224 --batch-size 64 \\
        --precision bf16 --device gpu --peak-tflops 989
    python benchmarks/speed.py --configs fused unfused --peers    # keras_vit ablation only
    python benchmarks/speed.py --models vit_large_patch16_224 --configs default remat \\
        --peers --batch-size 8 --steps 3                             # memory with and without remat

Peers are optional (`pip install -e ".[benchmarks]"` or `make benchmark`:
keras-hub and timm); a peer that is not installed is skipped with a note.
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
    # timm name: (keras_vit variant, patch size)
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
# keras_vit configurations: builder arguments of each.
CONFIGS = {
    "default": {},
    "fused": {"fused_qkv": True},
    "unfused": {"fused_qkv": False},
    "remat": {"remat": True},
}
KERAS_BACKENDS = ("tensorflow", "jax", "torch")
PEERS = ("keras_hub", "timm")
CLASSES = 1000


def forward_flops(model, image_size):
    """Analytic FLOPs (2 x multiply-adds) of one image's forward pass.

    Counts the matmuls (patch projection, q/k/v/output projections,
    attention scores and context, MLP, head); LayerNorm, softmax and GELU
    are left out, as in the usual model-FLOP-utilisation convention. A
    training step is counted as 3x the forward pass.
    """
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


def _keras_model(contender, model, args):
    import keras

    if args.flash != "auto":
        if args.flash == "on":
            keras.config.enable_flash_attention()
        else:
            keras.config.disable_flash_attention()
    if args.precision != "fp32":
        keras.config.set_dtype_policy("mixed_bfloat16" if args.precision == "bf16" else "mixed_float16")
    variant, patch = MODELS[model]
    size = args.image_size
    if contender == "keras_vit":
        import keras_vit

        return keras_vit.vit(f"{variant}/{patch}", input_shape=(size, size, 3), classes=CLASSES,
                             classifier_activation=None, **CONFIGS[args.config])
    import keras_hub

    # keras-hub's ViT with keras_vit's configuration: the same blocks,
    # LayerNorm epsilon, class-token pooling and a float32 Dense head.
    d, layers, heads, m = SIZES[variant]
    backbone = keras_hub.models.ViTBackbone(
        image_shape=(size, size, 3), patch_size=patch, num_layers=layers,
        num_heads=heads, hidden_dim=d, mlp_dim=m, layer_norm_epsilon=1e-6,
    )
    images = keras.Input((size, size, 3))
    tokens = backbone(images)
    logits = keras.layers.Dense(CLASSES, dtype="float32", name="head")(tokens[:, 0])
    return keras.Model(images, logits)


def run_keras(contender, model, args):
    import keras
    import numpy as np

    net = _keras_model(contender, model, args)
    backend = keras.backend.backend()
    net.compile(
        optimizer=keras.optimizers.AdamW(1e-4, weight_decay=0.05),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=backend != "torch",
    )
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (args.batch_size, args.image_size, args.image_size, 3)).astype("float32")
    y = rng.integers(0, CLASSES, (args.batch_size,))
    result = dict(params=int(net.count_params()))
    if "infer" in args.tasks:
        result["infer_step_s"] = _time_steps(lambda: np.asarray(net.predict_on_batch(x)), args.warmup, args.steps)
    if "train" in args.tasks:
        result["train_step_s"] = _time_steps(lambda: net.train_on_batch(x, y), args.warmup, args.steps)
    result["peak_memory_mb"] = _peak_memory_mb(backend, args.device)
    return result


def run_timm(model, args):
    import timm
    import torch

    device = "cuda" if args.device == "gpu" else "cpu"
    net = timm.create_model(model, pretrained=False, num_classes=CLASSES,
                            img_size=args.image_size).to(device)
    if args.config == "remat":
        net.set_grad_checkpointing(True)
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-4, weight_decay=0.05)
    x = torch.rand(args.batch_size, 3, args.image_size, args.image_size, device=device) * 2 - 1
    y = torch.randint(0, CLASSES, (args.batch_size,), device=device)
    half = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(args.precision)
    scaler = torch.amp.GradScaler(device) if args.precision == "fp16" else None

    def forward():
        if half is None:
            return net(x)
        with torch.autocast(device, dtype=half):
            return net(x).float()

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    def train_step():
        net.train()
        optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(forward(), y)
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
            forward().cpu()
        sync()

    result = dict(params=sum(p.numel() for p in net.parameters()))
    if "infer" in args.tasks:
        result["infer_step_s"] = _time_steps(infer_step, args.warmup, args.steps)
    if "train" in args.tasks:
        result["train_step_s"] = _time_steps(train_step, args.warmup, args.steps)
    result["peak_memory_mb"] = _peak_memory_mb("torch", args.device)
    return result


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


def _versions(python):
    code = ("import importlib.metadata as m, json\n"
            "out = {}\n"
            "for name in ('keras', 'tensorflow', 'jax', 'torch', 'keras-hub', 'timm', 'numpy'):\n"
            "    try: out[name] = m.version(name)\n"
            "    except m.PackageNotFoundError: pass\n"
            "print(json.dumps(out))")
    done = subprocess.run([python, "-c", code], capture_output=True, text=True)
    return json.loads(done.stdout) if done.returncode == 0 else {}


def measure(contender, backend, model, config, args):
    env = dict(os.environ)
    if backend in KERAS_BACKENDS:
        env["KERAS_BACKEND"] = backend
    if args.device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
        env["JAX_PLATFORMS"] = "cpu"
    command = [sys.executable, __file__, "--worker", "--contender", contender, "--model", model,
               "--config", config, "--batch-size", str(args.batch_size),
               "--image-size", str(args.image_size), "--precision", args.precision,
               "--warmup", str(args.warmup), "--steps", str(args.steps), "--device", args.device,
               "--flash", args.flash, "--tasks", *args.tasks]
    started = time.time()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return {"status": "failed: " + " | ".join(tail)}
    result = json.loads(lines[-1][len("RESULT "):])
    result["wall_s"] = round(time.time() - started, 1)
    return result


def jobs_for(args):
    """(contender, backend, config) triples to measure for one model."""
    jobs = [("keras_vit", b, c) for c in args.configs for b in args.backends]
    if "keras_hub" in args.peers:
        jobs += [("keras_hub", b, "default") for b in args.backends]
    if "timm" in args.peers:
        timm_config = "remat" if args.configs == ["remat"] else "default"
        jobs.append(("timm", "torch-eager", timm_config))
    return jobs


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["vit_tiny_patch16_224", "vit_small_patch16_224"],
                        choices=sorted(MODELS), help="timm model names (keras_vit builds the same variant)")
    parser.add_argument("--backends", nargs="+", default=list(KERAS_BACKENDS), choices=KERAS_BACKENDS,
                        help="Keras backends for keras_vit and keras-hub")
    parser.add_argument("--peers", nargs="*", default=list(PEERS), choices=PEERS,
                        help="peers to measure; `--peers` alone measures keras_vit only")
    parser.add_argument("--configs", nargs="+", default=["default"], choices=sorted(CONFIGS),
                        help="keras_vit configurations: default, fused/unfused q/k/v projection, remat")
    parser.add_argument("--tasks", nargs="+", default=["train", "infer"], choices=("train", "infer"))
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--precision", choices=("fp32", "bf16", "fp16"), default="fp32",
                        help="bf16/fp16: Keras mixed_* policies, torch.autocast for timm")
    parser.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    parser.add_argument("--flash", choices=("auto", "on", "off"), default="auto",
                        help="keras.config flash attention setting for the Keras models")
    parser.add_argument("--peak-tflops", type=float, default=None,
                        help="the device's peak TFLOP/s at this precision, for model FLOP utilisation")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps (compilation) per measurement")
    parser.add_argument("--steps", type=int, default=10, help="timed steps; the median is reported")
    parser.add_argument("--output", default=time.strftime("benchmarks/results/speed-%Y%m%d-%H%M%S.json"),
                        help="JSON file to write (default: a new timestamped name); an existing "
                             "file is never overwritten")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--contender", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--config", default="default", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not args.worker:
        for name in ("batch_size", "image_size", "steps"):
            if getattr(args, name) < 1:
                parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
        if args.warmup < 0:
            parser.error(f"--warmup must be >= 0, got {args.warmup}")
        if os.path.exists(args.output):
            parser.error(f"{args.output} exists; pass another --output (results are never overwritten)")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        return worker(args)
    gflops = matmul_gflops()
    versions = _versions(sys.executable)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; NumPy fp32 matmul {gflops:.1f} GFLOP/s")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    runs = []
    for model in args.models:
        flops = forward_flops(model, args.image_size)
        for contender, backend, config in jobs_for(args):
            print(f"  {model} {contender} [{config}] ({backend}) ...", flush=True)
            result = measure(contender, backend, model, config, args)
            result.update(model=model, contender=contender, backend=backend, config=config)
            if result["status"] == "ok":
                for task, factor in (("train", 3), ("infer", 1)):
                    if f"{task}_step_s" in result:
                        seconds = result[f"{task}_step_s"]
                        result[f"{task}_images_per_s"] = args.batch_size / seconds
                        result[f"{task}_gflops_per_s"] = factor * flops * args.batch_size / seconds / 1e9
            else:
                print(f"    {result['status']}")
            runs.append(result)
    report = dict(settings={k: v for k, v in vars(args).items() if k not in ("worker", "contender", "model", "config")},
                  machine=f"{platform.machine()}, {os.cpu_count()} cores",
                  matmul_gflops_per_s=gflops, versions=versions, runs=runs,
                  python=platform.python_version())
    print()
    print(format_table(report))
    os.makedirs(os.path.dirname(args.output) or ".", exist_ok=True)
    with open(args.output, "x") as handle:
        json.dump(report, handle, indent=2)
    print(f"saved {args.output}")


def _ratio(mine, theirs, key):
    if mine is None or key not in mine or key not in theirs:
        return ""
    return f"{mine[key] / theirs[key]:.2f}x"


def format_table(report):
    """The markdown table of a report: figures per run, ratios vs peers."""
    peak = report["settings"].get("peak_tflops")
    reference = report["matmul_gflops_per_s"] if peak is None else peak * 1000
    label = "% of matmul" if peak is None else "MFU"
    lines = [f"| model | contender | backend | train img/s | infer img/s | train GFLOP/s ({label}) "
             "| peak MB | keras_vit/this train | keras_vit/this infer |",
             "|---|---|---|---|---|---|---|---|---|"]
    ok = [r for r in report["runs"] if r["status"] == "ok"]
    ours = {(r["model"], r["backend"]): r for r in ok
            if r["contender"] == "keras_vit" and r["config"] == "default"}
    best = {}  # keras_vit's fastest backend per model: compared with timm
    for (model, _), r in ours.items():
        if model not in best or r.get("train_images_per_s", 0) > best[model].get("train_images_per_s", 0):
            best[model] = r
    for r in report["runs"]:
        name = r["contender"] if r["config"] == "default" else f"{r['contender']} [{r['config']}]"
        if r["status"] != "ok":
            lines.append(f"| {r['model']} | {name} | {r['backend']} | {r['status']} | | | | | |")
            continue
        mine = None
        if r["contender"] == "keras_hub":
            mine = ours.get((r["model"], r["backend"]))
        elif r["contender"] == "timm":
            mine = best.get(r["model"])
        train = f"{r['train_images_per_s']:.1f}" if "train_images_per_s" in r else "-"
        infer = f"{r['infer_images_per_s']:.1f}" if "infer_images_per_s" in r else "-"
        achieved = (f"{r['train_gflops_per_s']:.1f} ({100 * r['train_gflops_per_s'] / reference:.0f}%)"
                    if "train_gflops_per_s" in r else "-")
        lines.append(f"| {r['model']} | {name} | {r['backend']} | {train} | {infer} | {achieved} | "
                     f"{r['peak_memory_mb']:.0f} | {_ratio(mine, r, 'train_images_per_s')} | "
                     f"{_ratio(mine, r, 'infer_images_per_s')} |")
    lines.append("")
    lines.append("Ratios: keras_vit (default configuration) on the same Keras backend for keras-hub rows, "
                 "keras_vit's fastest backend for timm rows; > 1 means keras_vit is faster.")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
