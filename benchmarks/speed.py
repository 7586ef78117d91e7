"""Training and inference throughput of keras_vit against keras-hub's ViT and
timm, measured in one run on this machine.

Every measurement runs in its own subprocess (one Keras backend per process,
a clean peak-memory reading per model), with the same batch size,
resolution, precision, warm-up and number of timed steps; the figure is the
median step time. Training is a full optimizer step (AdamW, cross-entropy on
1000-class logits), inference a forward pass in inference mode. Keras models
run with `jit_compile=True` on TensorFlow and JAX (XLA) and eagerly on
PyTorch; timm runs eagerly, and with `torch.compile` as the opt-in peer
`timm-compile`. It prints the machine (CPU model, core count, the AVX2 /
AVX-512 / AMX flags that decide CPU matmul speed, NumPy's fp32 matmul
figure and, when bf16 is measured, torch's bf16 one), one table per
precision with the ratios keras_vit / peer, and saves everything as JSON.
By default (`--precision auto`) it measures fp32, and bf16 as well on a GPU
or on a CPU with AVX512_BF16 or AMX-BF16, where bf16 is native; elsewhere it
says that bf16 was left out (`--precision fp32 bf16` forces it).

    python benchmarks/speed.py                      # Ti/16 and S/16, 224 px, batch 16, CPU
    python benchmarks/speed.py --models vit_base_patch16_224 --batch-size 64 \\
        --precision bf16 --device gpu --peak-tflops 989
    python benchmarks/speed.py --configs fused unfused --peers    # keras_vit ablation only
    python benchmarks/speed.py --models vit_large_patch16_224 --configs default remat \\
        --peers --batch-size 8 --steps 3                             # memory with and without remat
    python benchmarks/speed.py --peers keras_hub timm timm-compile   # timm under torch.compile too

Peers are optional (`pip install -e ".[benchmarks]"` or `make benchmark`:
keras-hub and timm); a peer that is not installed is skipped with a note.
"""

import argparse
import contextlib
import functools
import json
import os
import platform
import signal
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
    # Not a published model: 2 blocks, 32 wide, for quick checks of the
    # benchmark scripts themselves (benchmarks/gpu_check.py --smoke).
    "vit_smoke_patch4_32": ("smoke", 4),
}
SIZES = {  # hidden, blocks, heads, mlp
    "Ti": (192, 12, 3, 768), "S": (384, 12, 6, 1536), "B": (768, 12, 12, 3072),
    "L": (1024, 24, 16, 4096), "H": (1280, 32, 16, 5120), "smoke": (32, 2, 2, 64),
}
# Models timm has no entry point for: (the timm model they override, its arguments).
TIMM_OVERRIDES = {
    "vit_smoke_patch4_32": ("vit_tiny_patch16_224",
                            dict(patch_size=4, embed_dim=32, depth=2, num_heads=2, mlp_ratio=2.0)),
}
# keras_vit configurations: builder arguments of each.
CONFIGS = {
    "default": {},
    "fused": {"fused_qkv": True},
    "unfused": {"fused_qkv": False},
    "remat": {"remat": True},
}
KERAS_BACKENDS = ("tensorflow", "jax", "torch")
PRECISIONS = ("fp32", "bf16", "fp16")
PEERS = ("keras_hub", "timm", "timm-compile")
DEFAULT_PEERS = ("keras_hub", "timm")
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


_BF16_MATMUL = """
import sys, time
try:
    import torch
except ImportError:
    print("skipped: torch is not installed"); sys.exit()
size, device = int(sys.argv[1]), sys.argv[2]
if device == "cuda" and not torch.cuda.is_available():
    print("skipped: torch sees no CUDA device"); sys.exit()
sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

def best(n, repeats):
    a = torch.randn(n, n, device=device).to(torch.bfloat16)
    torch.matmul(a, a); sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter(); torch.matmul(a, a); sync(); times.append(time.perf_counter() - start)
    return min(times)

# A CPU without bf16 instructions may run at ~1 GFLOP/s, minutes at full
# size: a probe at 512 decides, and a slow kernel is reported at 512.
probe = best(min(size, 512), 1)
if probe * (size / 512) ** 3 > 5:
    size = min(size, 512)
    print(2 * size**3 / probe / 1e9, size)
else:
    print(2 * size**3 / best(size, 5) / 1e9, size)
"""


def matmul_bf16_gflops(device="cpu", size=2048, python=None):
    """torch's bf16 matmul throughput on `device` ("cpu" or "cuda"), in a
    subprocess (the driver imports no framework). Where a matmul of `size`
    would take over a few seconds (a CPU without bf16 instructions), the
    figure is measured at 512 x 512 and the note says so.

    Returns (GFLOP/s or None, a note: why it is None, or the size used
    when it is not `size`).
    """
    done = subprocess.run([python or sys.executable, "-c", _BF16_MATMUL, str(size), device],
                          capture_output=True, text=True)
    out = done.stdout.strip().splitlines()
    if done.returncode != 0 or not out:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:]
        return None, "failed: " + " | ".join(tail)
    words = out[-1].split()
    try:
        value, used = float(words[0]), int(words[1])
    except (ValueError, IndexError):
        return None, out[-1]
    return value, "" if used == size else f"measured at {used}x{used} (a slow bf16 kernel)"


CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")
_FLAG_LABELS = {"avx2": "AVX2", "avx512f": "AVX512F", "avx512_bf16": "AVX512_BF16",
                "amx_bf16": "AMX-BF16", "amx_tile": "AMX-TILE"}


def _lscpu_model():
    try:
        done = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    for line in done.stdout.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "Model name" and value.strip():
            return value.strip()
    return None


def cpu_info(cpuinfo=None):
    """The CPU: model name, logical core count and the vector/matrix flags
    that decide its matmul speed (AVX2, AVX-512F, AVX512_BF16, AMX-BF16,
    AMX-TILE), from /proc/cpuinfo (Linux).

    Args:
        cpuinfo: str or None. The text of /proc/cpuinfo; None reads it.
            Where there is none (not Linux) or it lists no `flags`, the
            flags are "unknown"; the model falls back to lscpu's
            "Model name", then to `platform.processor()`.

    Returns:
        A dict: `model`, `cores`, and one of True / False / "unknown" for
        each of `CPU_FLAGS`.

    >>> info = cpu_info("processor : 0\\nmodel name : Example CPU\\nflags : fpu avx2 amx_tile\\n")
    >>> info["model"], info["cores"], info["avx2"], info["avx512f"], info["amx_tile"]
    ('Example CPU', 1, True, False, True)
    """
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
                cpuinfo = handle.read()
        except OSError:
            cpuinfo = ""
    fields, processors = {}, 0
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key = key.strip().lower()
        processors += key == "processor"
        fields.setdefault(key, value.strip())  # the first processor's entry
    model = fields.get("model name") or _lscpu_model() or platform.processor() or "unknown"
    flags = fields["flags"].split() if "flags" in fields else None
    info = {"model": model, "cores": processors or os.cpu_count()}
    for flag in CPU_FLAGS:
        info[flag] = "unknown" if flags is None else flag in flags
    return info


def format_cpu(info):
    """One line: `AMD EPYC, 2 cores; AVX2 yes, AVX512F no, ...`."""
    if not info:
        return "not recorded"
    words = {True: "yes", False: "no"}
    flags = ", ".join(f"{_FLAG_LABELS[flag]} {words.get(info.get(flag), 'unknown')}" for flag in CPU_FLAGS)
    return f"{info.get('model', 'unknown')}, {info.get('cores', '?')} cores; {flags}"


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


class FlashUnavailable(RuntimeError):
    """`--flash on` where the backend cannot run its flash kernel."""

    MARK = "flash kernel unavailable: "


def _flash_reason(error):
    # Keras re-raises layer errors with their context around the message;
    # the reason is the line FlashUnavailable wrote.
    for line in str(error).splitlines():
        if FlashUnavailable.MARK in line:
            reason = line.split(FlashUnavailable.MARK, 1)[1]
            return reason.replace("\x1b[0m", "").replace("\x1b[1m", "").strip()
    return str(error).splitlines()[0][:200] if str(error) else type(error).__name__


def _is_oom(error):
    text = f"{type(error).__name__}: {error}"
    return any(mark in text for mark in ("RESOURCE_EXHAUSTED", "OutOfMemoryError", "out of memory",
                                         "Out of memory", "OOM when allocating", "ResourceExhausted"))


def _force_flash(setting):
    """Makes `--flash on|off` reach every `keras.ops.dot_product_attention`.

    keras.config's switch is read by Keras's `MultiHeadAttention` (which
    keras-hub's ViT uses); keras_vit's attention calls
    `ops.dot_product_attention` with `flash_attention=None`, which each
    backend resolves by itself (flash wherever it can run), so the switch
    alone would change nothing there. The worker therefore passes the
    setting to every call that leaves it open: `on` asks for the flash
    kernel (an error, reported as a skip, where it cannot run); `off` for
    the plain path, XLA's attention on JAX and, on PyTorch, SDPA limited
    to its math kernel (SDPA otherwise picks a fused kernel by itself).
    """
    import keras

    if setting == "on":
        keras.config.enable_flash_attention()
    else:
        keras.config.disable_flash_attention()
    original = keras.ops.dot_product_attention
    kernels = contextlib.nullcontext
    if setting == "off" and keras.backend.backend() == "torch":
        from torch.nn.attention import SDPBackend, sdpa_kernel

        kernels = functools.partial(sdpa_kernel, [SDPBackend.MATH])

    def dot_product_attention(*args, flash_attention=None, **kwargs):
        if flash_attention is None:
            flash_attention = setting == "on"
        try:
            with kernels():
                return original(*args, flash_attention=flash_attention, **kwargs)
        except Exception as error:
            if setting != "on" or _is_oom(error) or isinstance(error, FlashUnavailable):
                raise
            first = (str(error).splitlines() or [""])[0][:200]
            raise FlashUnavailable(f"{FlashUnavailable.MARK}{type(error).__name__}: {first}") from error

    keras.ops.dot_product_attention = dot_product_attention


def _keras_model(contender, model, args):
    import keras

    if args.flash != "auto":
        _force_flash(args.flash)
    if args.precision != "fp32":
        keras.config.set_dtype_policy("mixed_bfloat16" if args.precision == "bf16" else "mixed_float16")
    variant, patch = MODELS[model]
    size = args.image_size
    if contender == "keras_vit":
        import keras_vit

        if model in TIMM_OVERRIDES:  # not a published variant: its sizes are given
            d, layers, heads, m = SIZES[variant]
            return keras_vit.VisionTransformer(
                patch_size=patch, hidden_dim=d, num_layers=layers, num_heads=heads, mlp_dim=m,
                input_shape=(size, size, 3), classes=CLASSES, classifier_activation=None,
                **CONFIGS[args.config])
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


def compiled_keras_model(contender, model, args):
    """The Keras model of a contender, compiled for training as measured:
    AdamW, cross-entropy on logits, XLA on TensorFlow and JAX."""
    import keras

    net = _keras_model(contender, model, args)
    net.compile(
        optimizer=keras.optimizers.AdamW(1e-4, weight_decay=0.05),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=keras.backend.backend() != "torch",
    )
    return net


def random_batch(batch_size, image_size, seed=0):
    """Images in [-1, 1] (NHWC, float32) and integer labels."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (batch_size, image_size, image_size, 3)).astype("float32")
    return x, rng.integers(0, CLASSES, (batch_size,))


def run_keras(contender, model, args):
    import keras
    import numpy as np

    net = compiled_keras_model(contender, model, args)
    backend = keras.backend.backend()
    x, y = random_batch(args.batch_size, args.image_size)
    result = dict(params=int(net.count_params()))
    if "infer" in args.tasks:
        result["infer_step_s"] = _time_steps(lambda: np.asarray(net.predict_on_batch(x)), args.warmup, args.steps)
    if "train" in args.tasks:
        result["train_step_s"] = _time_steps(lambda: net.train_on_batch(x, y), args.warmup, args.steps)
    result["peak_memory_mb"] = _peak_memory_mb(backend, args.device)
    return result


def run_timm(model, args, compiled=False):
    import timm
    import torch

    device = "cuda" if args.device == "gpu" else "cpu"
    name, overrides = TIMM_OVERRIDES.get(model, (model, {}))
    net = timm.create_model(name, pretrained=False, num_classes=CLASSES,
                            img_size=args.image_size, **overrides).to(device)
    if args.config == "remat":
        net.set_grad_checkpointing(True)
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-4, weight_decay=0.05)
    x = torch.rand(args.batch_size, 3, args.image_size, args.image_size, device=device) * 2 - 1
    y = torch.randint(0, CLASSES, (args.batch_size,), device=device)
    half = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(args.precision)
    scaler = torch.amp.GradScaler(device) if args.precision == "fp16" else None

    # torch.compile's default mode; it compiles during the warm-up steps
    # (train and eval each get their own graph), as XLA does for Keras.
    call = torch.compile(net) if compiled else net

    def forward():
        if half is None:
            return call(x)
        with torch.autocast(device, dtype=half):
            return call(x).float()

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


def worker_status(error):
    """The status of a worker that raised `error`, or None to let it raise:
    a missing package or an unavailable flash kernel is a skip, running out
    of device memory is "oom: ..." (a smaller batch may fit)."""
    if isinstance(error, FlashUnavailable):
        return f"skipped: flash attention cannot run here ({_flash_reason(error)})"
    if isinstance(error, ImportError):
        return f"skipped: {error.name or error} is not installed"
    if _is_oom(error):
        lines = [line for line in str(error).splitlines() if line.strip()] or [type(error).__name__]
        return "oom: " + lines[0][:200]
    return None


def worker(args):
    try:
        if args.contender in ("timm", "timm-compile"):
            result = run_timm(args.model, args, compiled=args.contender == "timm-compile")
        else:
            result = run_keras(args.contender, args.model, args)
        result["status"] = "ok"
    except Exception as error:
        status = worker_status(error)
        if status is None:
            raise
        result = {"status": status}
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


def worker_env(backend, device):
    """The environment of a worker: its Keras backend; on the CPU, no GPU
    visible to any framework."""
    env = dict(os.environ)
    if backend in KERAS_BACKENDS:
        env["KERAS_BACKEND"] = backend
    if device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
        env["JAX_PLATFORMS"] = "cpu"
    return env


def run_worker(command, env, timeout=None):
    """Runs a worker process; returns (its `RESULT` dict, its stdout lines).

    Without a `RESULT` line the status is "failed: <the last lines of its
    output>", or "timed out after N s" when it ran past `timeout` (then
    its whole process group is killed: torch.compile's compile workers
    too). `wall_s` is added.
    """
    started = time.time()
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, start_new_session=True)
    try:
        stdout, stderr = child.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        stdout, stderr = child.communicate()
        timed_out = True
    lines = stdout.splitlines()
    results = [line for line in lines if line.startswith("RESULT ")]
    if results:
        result = json.loads(results[-1][len("RESULT "):])
    elif timed_out:
        result = {"status": f"timed out after {timeout:.0f} s"}
    else:
        tail = (stderr or stdout).strip().splitlines()[-3:]
        result = {"status": "failed: " + " | ".join(tail)}
    result["wall_s"] = round(time.time() - started, 1)
    return result, lines


def measure(contender, backend, model, config, args, timeout=None):
    """One measurement in a fresh worker process (see `run_worker`)."""
    command = [sys.executable, os.path.abspath(__file__), "--worker", "--contender", contender,
               "--model", model, "--config", config, "--batch-size", str(args.batch_size),
               "--image-size", str(args.image_size), "--precision", args.precision,
               "--warmup", str(args.warmup), "--steps", str(args.steps), "--device", args.device,
               "--flash", args.flash, "--tasks", *args.tasks]
    result, _ = run_worker(command, worker_env(backend, args.device), timeout)
    return result


def jobs_for(args):
    """(contender, backend, config) triples to measure for one model."""
    jobs = [("keras_vit", b, c) for c in args.configs for b in args.backends]
    if "keras_hub" in args.peers:
        jobs += [("keras_hub", b, "default") for b in args.backends]
    timm_config = "remat" if args.configs == ["remat"] else "default"
    if "timm" in args.peers:
        jobs.append(("timm", "torch-eager", timm_config))
    if "timm-compile" in args.peers:
        jobs.append(("timm-compile", "torch-compile", timm_config))
    return jobs


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["vit_tiny_patch16_224", "vit_small_patch16_224"],
                        choices=sorted(MODELS), help="timm model names (keras_vit builds the same variant)")
    parser.add_argument("--backends", nargs="+", default=list(KERAS_BACKENDS), choices=KERAS_BACKENDS,
                        help="Keras backends for keras_vit and keras-hub")
    parser.add_argument("--peers", nargs="*", default=list(DEFAULT_PEERS), choices=PEERS,
                        help="peers to measure (default: keras_hub timm; timm-compile is timm under "
                             "torch.compile); `--peers` alone measures keras_vit only")
    parser.add_argument("--configs", nargs="+", default=["default"], choices=sorted(CONFIGS),
                        help="keras_vit configurations: default, fused/unfused q/k/v projection, remat")
    parser.add_argument("--tasks", nargs="+", default=["train", "infer"], choices=("train", "infer"))
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--precision", nargs="+", choices=("auto",) + PRECISIONS, default=["auto"],
                        help="one table per precision; bf16/fp16: Keras mixed_* policies, torch.autocast "
                             "for timm. auto (default): fp32, and bf16 too on a GPU or a CPU with "
                             "AVX512_BF16 or AMX-BF16 (elsewhere bf16 is emulated, and slow)")
    parser.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    parser.add_argument("--flash", choices=("auto", "on", "off"), default="auto",
                        help="flash attention in the Keras models: auto (each backend decides), "
                             "on (the flash kernel; skipped where it cannot run) or off (the plain path)")
    parser.add_argument("--peak-tflops", type=float, default=None,
                        help="the device's peak TFLOP/s at the run's one precision, for model FLOP utilisation")
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
    if args.worker:
        if len(args.precision) != 1 or args.precision[0] == "auto":
            parser.error("a worker takes one --precision: fp32, bf16 or fp16")
        args.precision = args.precision[0]
    else:
        if "auto" in args.precision and len(args.precision) > 1:
            parser.error(f"--precision auto stands alone; got {' '.join(args.precision)}")
        args.precision = list(dict.fromkeys(args.precision))  # each once, in order
        for name in ("batch_size", "image_size", "steps"):
            if getattr(args, name) < 1:
                parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
        if args.warmup < 0:
            parser.error(f"--warmup must be >= 0, got {args.warmup}")
        if os.path.exists(args.output):
            parser.error(f"{args.output} exists; pass another --output (results are never overwritten)")
    return args


def native_bf16(cpu):
    """Whether a CPU (a `cpu_info` dict) computes bfloat16 matmuls natively:
    it reports AVX512_BF16 or AMX-BF16.

    >>> native_bf16(cpu_info("processor : 0\\nflags : avx2 avx512f amx_bf16 amx_tile\\n"))
    True
    >>> native_bf16(cpu_info("processor : 0\\nflags : avx2\\n"))
    False
    """
    return bool(cpu) and (cpu.get("amx_bf16") is True or cpu.get("avx512_bf16") is True)


def resolve_precisions(requested, device, cpu):
    """The precisions a run measures, in order, and a note on any left out.

    Args:
        requested: list of `--precision` values: "auto" alone, or some of
            `PRECISIONS`.
        device: "cpu" or "gpu".
        cpu: a `cpu_info` dict.

    Returns:
        (list of precisions, note or ""). "auto" is fp32, plus bf16 on a GPU
        or on a CPU that computes bf16 natively (`native_bf16`); elsewhere
        the note says why bf16 was left out and how to ask for it.
    """
    if requested != ["auto"]:
        return list(requested), ""
    if device == "gpu" or native_bf16(cpu):
        return ["fp32", "bf16"], ""
    return ["fp32"], ("bf16 not measured: this CPU has neither AVX512_BF16 nor AMX-BF16, so bfloat16 "
                      "is emulated (slow); `--precision fp32 bf16` measures it anyway")


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        return worker(args)
    cpu = cpu_info()
    precisions, precision_note = resolve_precisions(args.precision, args.device, cpu)
    if args.peak_tflops and len(precisions) > 1:
        # A device's peak depends on the precision: one figure cannot serve two tables.
        raise SystemExit(f"speed.py: error: --peak-tflops is the peak of one precision; pass one --precision "
                         f"with it (this run would measure {', '.join(precisions)})")
    gflops = matmul_gflops()
    bf16, bf16_note = None, "not measured (no bf16 table in this run)"
    if "bf16" in precisions:
        bf16, bf16_note = matmul_bf16_gflops("cuda" if args.device == "gpu" else "cpu")
    versions = _versions(sys.executable)
    bf16_text = (f"torch bf16 matmul ({args.device}) {bf16:.1f} GFLOP/s" if bf16 is not None
                 else "torch bf16 matmul") + (f" {bf16_note}" if bf16 is None else
                                              f" ({bf16_note})" if bf16_note else "")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; NumPy fp32 matmul {gflops:.1f} GFLOP/s; "
          f"{bf16_text}")
    print(f"cpu: {format_cpu(cpu)}")
    print(f"precisions: {', '.join(precisions)}" + (f" ({precision_note})" if precision_note else ""))
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    runs = []
    for precision in precisions:
        settings = argparse.Namespace(**{**vars(args), "precision": precision})
        for model in args.models:
            flops = forward_flops(model, args.image_size)
            for contender, backend, config in jobs_for(args):
                print(f"  {precision} {model} {contender} [{config}] ({backend}) ...", flush=True)
                result = measure(contender, backend, model, config, settings)
                result.update(model=model, contender=contender, backend=backend, config=config,
                              precision=precision)
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
                  precisions=precisions, precision_note=precision_note,
                  machine=f"{platform.machine()}, {os.cpu_count()} cores", cpu=cpu,
                  matmul_gflops_per_s=gflops, matmul_bf16_gflops_per_s=bf16,
                  matmul_bf16_note=bf16_note, versions=versions, runs=runs,
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


def report_precisions(report):
    """The precisions a report measured, in order (reports written before
    runs had several hold one, in `settings["precision"]`)."""
    if report.get("precisions"):
        return list(report["precisions"])
    precision = report["settings"].get("precision", "fp32")
    return [precision] if isinstance(precision, str) else list(precision)


def matmul_reference(report, precision=None):
    """(GFLOP/s, label, description) the achieved GFLOP/s of `precision`'s
    runs (default: the report's first precision) are compared with:
    `--peak-tflops` (MFU), else the measured matmul figure of that
    precision (torch's bf16 one for bf16 runs, where measured and faster
    than fp32, i.e. where the CPU or GPU computes bf16 natively; NumPy's
    fp32 one otherwise, also on CPUs that only emulate bf16)."""
    settings = report["settings"]
    precision = precision or report_precisions(report)[0]
    if settings.get("peak_tflops"):
        peak = settings["peak_tflops"]
        return peak * 1000, "MFU", f"MFU against a peak of {peak:g} TFLOP/s"
    bf16 = report.get("matmul_bf16_gflops_per_s")
    fp32 = report["matmul_gflops_per_s"]
    if precision == "bf16" and bf16 and bf16 > fp32:
        return bf16, "% of bf16 matmul", f"% of torch's bf16 matmul, {bf16:.1f} GFLOP/s"
    if precision == "bf16" and bf16:
        return fp32, "% of matmul", (f"% of NumPy's fp32 matmul, {fp32:.1f} GFLOP/s "
                                     f"(bf16 matmul {bf16:.1f} GFLOP/s: emulated, not the reference)")
    return fp32, "% of matmul", f"% of NumPy's fp32 matmul, {fp32:.1f} GFLOP/s"


def format_table(report):
    """The markdown tables of a report, one per precision, each under a line
    naming the CPU, the precision and the reference of the utilisation
    column: figures per run, ratios vs peers (within one precision)."""
    precisions = report_precisions(report)
    lines = []
    for precision in precisions:
        runs = [r for r in report["runs"] if r.get("precision", precisions[0]) == precision]
        lines += _precision_table(report, precision, runs) + [""]
    lines.append("Ratios: keras_vit (default configuration) on the same Keras backend for keras-hub rows, "
                 "keras_vit's fastest backend for timm rows, at the same precision; > 1 means keras_vit "
                 "is faster.")
    if report.get("precision_note"):
        lines.append(f"Note: {report['precision_note']}.")
    return "\n".join(lines)


def _precision_table(report, precision, runs):
    reference, label, described = matmul_reference(report, precision)
    lines = [f"CPU: {format_cpu(report.get('cpu'))}. Precision: {precision}. Utilisation: {described}.", "",
             f"| model | contender | backend | train img/s | infer img/s | train GFLOP/s ({label}) "
             "| peak MB | keras_vit/this train | keras_vit/this infer |",
             "|---|---|---|---|---|---|---|---|---|"]
    ok = [r for r in runs if r["status"] == "ok"]
    ours = {(r["model"], r["backend"]): r for r in ok
            if r["contender"] == "keras_vit" and r["config"] == "default"}
    best = {}  # keras_vit's fastest backend per model: compared with timm
    for (model, _), r in ours.items():
        if model not in best or r.get("train_images_per_s", 0) > best[model].get("train_images_per_s", 0):
            best[model] = r
    for r in runs:
        name = r["contender"] if r["config"] == "default" else f"{r['contender']} [{r['config']}]"
        if r["status"] != "ok":
            lines.append(f"| {r['model']} | {name} | {r['backend']} | {r['status']} | | | | | |")
            continue
        mine = None
        if r["contender"] == "keras_hub":
            mine = ours.get((r["model"], r["backend"]))
        elif r["contender"] in ("timm", "timm-compile"):
            mine = best.get(r["model"])
        train = f"{r['train_images_per_s']:.1f}" if "train_images_per_s" in r else "-"
        infer = f"{r['infer_images_per_s']:.1f}" if "infer_images_per_s" in r else "-"
        achieved = (f"{r['train_gflops_per_s']:.1f} ({100 * r['train_gflops_per_s'] / reference:.0f}%)"
                    if "train_gflops_per_s" in r else "-")
        lines.append(f"| {r['model']} | {name} | {r['backend']} | {train} | {infer} | {achieved} | "
                     f"{r['peak_memory_mb']:.0f} | {_ratio(mine, r, 'train_images_per_s')} | "
                     f"{_ratio(mine, r, 'infer_images_per_s')} |")
    return lines


if __name__ == "__main__":
    main()
