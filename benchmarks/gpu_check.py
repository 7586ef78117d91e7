"""One offline check of keras_vit on a GPU: bf16 training speed against
keras-hub and timm, flash attention on and off, the largest ViT-H/14
training batch with and without rematerialisation, and `model.fit` under
data parallelism.

Run it through benchmarks/gpu_check.sh, which installs Keras and keras-hub
from wheels (`make gpu-wheels`) into a temporary folder, so that a machine
without network uses its own torch, JAX and timm:

    bash benchmarks/gpu_check.sh                         # one GPU, under 8 minutes
    bash benchmarks/gpu_check.sh --device cpu --smoke    # every part, tiny, on the CPU

Parts, in this order:

  a. ViT-B/16 training in bf16 (Keras `mixed_bfloat16`, `torch.autocast`
     for timm) at 224 px and the largest batch up to 256 that fits (256,
     128, ... per contender): images/s and model FLOP utilisation, 3x the
     analytic forward FLOPs against `--peak-tflops`. keras_vit and
     keras-hub on each Keras backend, timm eager and under torch.compile.
  b. keras_vit's ViT-B/16 with flash attention on and off (JAX, PyTorch).
  c. The largest ViT-H/14 training batch (bf16, powers of two up to 512)
     with and without `remat=True`, and its peak memory: keras_vit on JAX,
     then on PyTorch.
  d. `model.fit` of a few steps under `keras.distribution.DataParallel`
     (JAX, every visible device) and `tf.distribute.MirroredStrategy`
     (TensorFlow, where installed): the devices, a finite loss, the step
     time.

Every measurement runs in its own process with a timeout (benchmarks/
speed.py's workers for a and b), so one failing never stops the others. A
time budget (`--budget-s`) is shared among the parts; a measurement that
would start after its part's share or the whole budget is spent is
recorded as "skipped: time budget". `--smoke` runs the same parts with a
2-block, 32-wide ViT at 32 px, batches of at most 4 and one or two steps.

Writes benchmarks/results/gpu-<UTC time>.json (or one under `--out`; an
existing file is never overwritten) and prints a table.
"""

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:  # benchmarks/ is not a package
    sys.path.insert(0, _HERE)
import speed  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PARTS = {  # key: (name, title); {model}, {huge}, {fit_model} from the profile
    "a": ("training", "{model} bf16 training at the largest batch: keras_vit, keras-hub, timm"),
    "b": ("flash", "keras_vit {model} with flash attention on and off"),
    "c": ("max_batch", "largest {huge} training batch, with and without remat"),
    "d": ("fit", "model.fit of {fit_model} under DataParallel / MirroredStrategy"),
}
# Each part's share of the time left when it starts (the shares of the
# parts still to run are renormalised, so time one part leaves is spent by
# the next).
SHARES = {"a": 0.45, "b": 0.15, "c": 0.30, "d": 0.10}
PROFILES = {
    "full": dict(model="vit_base_patch16_224", image_size=224, batch_cap=256,
                 huge="vit_huge_patch14_224", huge_cap=512,
                 fit_model="vit_tiny_patch16_224", fit_batch=32, fit_steps=8,
                 warmup=2, steps=5, search_steps=2, budget_s=440.0, min_start_s=30.0,
                 timeouts=dict(a=180, b=150, c=240, d=150)),
    "smoke": dict(model="vit_smoke_patch4_32", image_size=32, batch_cap=4,
                  huge="vit_smoke_patch4_32", huge_cap=4,
                  fit_model="vit_smoke_patch4_32", fit_batch=4, fit_steps=4,
                  warmup=1, steps=2, search_steps=1, budget_s=360.0, min_start_s=5.0,
                  timeouts=dict(a=90, b=90, c=90, d=90)),
}
DEFAULT_PEAK_TFLOPS = 989.0  # dense bf16, H100 / H200 SXM


# ---------------------------------------------------------------- workers


def _memory_limit_mb(backend, device):
    if device != "gpu":
        return None
    if backend == "jax":
        import jax

        return jax.devices()[0].memory_stats().get("bytes_limit", 0) / 2**20 or None
    if backend == "torch":
        import torch

        return torch.cuda.mem_get_info()[1] / 2**20
    return None


def next_batch(points, cap, limit_mb, jumped):
    """The next power of two to try in an ascending search.

    `points` are (batch, peak MB) of the batches that fitted, smallest
    first. After 1 the search tries 4; then, where the device's memory
    limit is known, it jumps once to the largest power of two that a
    straight line through the last two points says fits in 90% of it;
    otherwise, and after the jump, it doubles. None when `cap` is reached.

    Returns (batch or None, whether this step was the jump).
    """
    last = points[-1][0]
    if last >= cap:
        return None, jumped
    candidate = last * 4 if len(points) == 1 else last * 2
    jump = False
    if limit_mb and len(points) >= 2 and not jumped:
        (b1, m1), (b2, m2) = points[-2], points[-1]
        per_image = (m2 - m1) / (b2 - b1)
        if per_image > 0:
            fits = b2 + (0.9 * limit_mb - m2) / per_image
            if fits >= 1:
                power = 2 ** int(math.floor(math.log2(fits)))
                if power > last:
                    candidate, jump = power, True
    return min(candidate, cap), jumped or jump


def search_worker(args):
    """Trains keras_vit at ascending batch sizes in one process (so each
    peak-memory reading is that batch's: the peaks only grow), printing a
    `TRIAL` line per batch; stops at the first that does not fit."""
    import keras

    backend = keras.backend.backend()
    settings = argparse.Namespace(flash="auto", precision=args.precision, image_size=args.image_size,
                                  config=args.config, device=args.device)
    try:
        net = speed.compiled_keras_model("keras_vit", args.model, settings)
    except Exception as error:
        status = speed.worker_status(error)
        if status is None:
            raise
        print("RESULT " + json.dumps({"status": status}), flush=True)
        return
    limit = _memory_limit_mb(backend, args.device)
    points, jumped, batch = [], False, args.first
    while batch is not None:
        if args.device == "gpu" and backend == "torch":
            import torch

            torch.cuda.reset_peak_memory_stats()
        x, y = speed.random_batch(batch, args.image_size)
        try:
            step_s = speed._time_steps(lambda: net.train_on_batch(x, y), args.warmup, args.steps)
            peak = speed._peak_memory_mb(backend, args.device)
            trial = dict(batch_size=batch, status="ok", train_step_s=step_s, peak_memory_mb=peak)
        except Exception as error:
            status = speed.worker_status(error)
            trial = dict(batch_size=batch, status=status or f"failed: {type(error).__name__}: "
                                                             f"{str(error).splitlines()[0][:200]}")
        print("TRIAL " + json.dumps(trial), flush=True)
        if trial["status"] != "ok" or args.single:
            break
        points.append((batch, trial["peak_memory_mb"]))
        batch, jumped = next_batch(points, args.cap, limit, jumped)
    print("RESULT " + json.dumps({"status": "ok", "memory_limit_mb": limit,
                                  "params": int(net.count_params())}), flush=True)


def fit_worker(args):
    """`model.fit` of `--steps` steps of keras_vit under DataParallel (JAX)
    or MirroredStrategy (TensorFlow), `--batch-size` images per replica."""
    import contextlib

    import keras

    class StepTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.times = []

        def on_train_batch_begin(self, batch, logs=None):
            self.start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            if logs and "loss" in logs:
                float(logs["loss"])  # waits for the step (asynchronous dispatch)
            self.times.append(time.perf_counter() - self.start)

    try:
        if args.strategy == "data-parallel":
            devices = keras.distribution.list_devices()
            keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
            scope = contextlib.nullcontext()
        else:
            import tensorflow as tf

            strategy = tf.distribute.MirroredStrategy()
            devices = list(strategy.extended.worker_devices)
            scope = strategy.scope()
        settings = argparse.Namespace(flash="auto", precision=args.precision, image_size=args.image_size,
                                      config="default", device=args.device)
        with scope:
            net = speed.compiled_keras_model("keras_vit", args.model, settings)
        global_batch = args.batch_size * len(devices)
        x, y = speed.random_batch(global_batch * args.steps, args.image_size)
        timer = StepTimer()
        history = net.fit(x, y, batch_size=global_batch, epochs=1, shuffle=False, verbose=0,
                          callbacks=[timer])
        loss = float(history.history["loss"][-1])
        # The second half of the steps: under a distribution the first two
        # compile (the second again, once the variables carry its layout).
        step_s = statistics.median(timer.times[len(timer.times) // 2:])
        result = dict(status="ok" if math.isfinite(loss) else f"failed: the loss is {loss}",
                      ran=True, loss=loss, loss_finite=math.isfinite(loss),
                      devices=[str(device) for device in devices], replicas=len(devices),
                      batch_size=global_batch, steps=len(timer.times),
                      step_times_s=[round(t, 4) for t in timer.times], train_step_s=step_s,
                      images_per_s=global_batch / step_s)
    except Exception as error:
        status = speed.worker_status(error)
        if status is None:
            raise
        result = {"status": status}
    print("RESULT " + json.dumps(result), flush=True)


# ---------------------------------------------------------------- driver


_PROBE = """
import importlib.util, json
names = ("keras", "tensorflow", "jax", "torch", "keras_hub", "timm")
print(json.dumps({name: importlib.util.find_spec(name) is not None for name in names}))
"""


def importable(python):
    """Which of keras, the backends and the peers `python` can import
    (found on its path; nothing is imported)."""
    done = subprocess.run([python, "-c", _PROBE], capture_output=True, text=True)
    return json.loads(done.stdout) if done.returncode == 0 else {}


def gpu_info(python, device):
    """The GPUs nvidia-smi lists (name, driver, memory); where it is missing
    and the check runs on the GPU, the names torch reports."""
    query = ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader,nounits"]
    try:
        done = subprocess.run(query, capture_output=True, text=True, timeout=30)
        rows = [[field.strip() for field in line.split(",")] for line in done.stdout.strip().splitlines()]
        gpus = [dict(name=r[0], driver=r[1], memory_mb=float(r[2])) for r in rows if len(r) == 3]
        if done.returncode == 0 and gpus:
            return dict(source="nvidia-smi", gpus=gpus)
        note = (done.stderr or done.stdout).strip()[:200]
    except (OSError, subprocess.SubprocessError, ValueError) as error:
        note = f"nvidia-smi: {error}"
    if device == "gpu":
        code = ("import json, torch\n"
                "print(json.dumps([dict(name=torch.cuda.get_device_name(i), cuda=torch.version.cuda) "
                "for i in range(torch.cuda.device_count())]))")
        done = subprocess.run([python, "-c", code], capture_output=True, text=True)
        if done.returncode == 0 and done.stdout.strip():
            return dict(source="torch", gpus=json.loads(done.stdout.strip().splitlines()[-1]), note=note)
    return dict(source="none", gpus=[], note=note)


def output_path(out_dir, device, smoke, now):
    """A new file name in `out_dir`: gpu-<UTC time>.json (gpu-check-cpu-...
    on the CPU, -smoke for smoke runs), -2, -3, ... if taken."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now))
    base = ("gpu" if device == "gpu" else "gpu-check-cpu") + ("-smoke" if smoke else "") + f"-{stamp}"
    path, number = Path(out_dir) / f"{base}.json", 2
    while path.exists():
        path, number = Path(out_dir) / f"{base}-{number}.json", number + 1
    return path


def write_new(path_or_dir, report, device, smoke, now):
    """Writes `report` to a file that did not exist; returns its path."""
    if path_or_dir.suffix == ".json":  # an explicit --output
        path_or_dir.parent.mkdir(parents=True, exist_ok=True)
        with open(path_or_dir, "x") as handle:
            json.dump(report, handle, indent=2)
        return path_or_dir
    path_or_dir.mkdir(parents=True, exist_ok=True)
    while True:
        path = output_path(path_or_dir, device, smoke, now)
        try:
            with open(path, "x") as handle:
                json.dump(report, handle, indent=2)
            return path
        except FileExistsError:  # another run took the name meanwhile
            continue


def part_status(runs):
    """ok: every run ok or skipped for a reason of its own; incomplete: the
    time budget stopped one; failed: one failed or timed out; skipped:
    every run was skipped."""
    statuses = [run["status"] for run in runs]
    bad = [s for s in statuses if s.startswith(("failed", "timed out", "oom"))]
    if bad:
        return f"failed: {len(bad)} of {len(runs)} runs"
    cut = [s for s in statuses if s.startswith("incomplete") or s == "skipped: time budget"]
    if cut:
        return f"incomplete: the time budget stopped {len(cut)} of {len(runs)} runs"
    if statuses and all(s.startswith("skipped") for s in statuses):
        return "skipped: every run was skipped (see runs)"
    return "ok"


class Check:
    """The state of one run of the check: settings, clock, what is
    installed, and the measurements."""

    def __init__(self, args, installed, started):
        self.args = args
        self.profile = PROFILES["smoke" if args.smoke else "full"]
        self.installed = installed
        self.started = started
        self.deadline = self.started + args.budget_s
        self.part_deadline = self.deadline
        self.part = None
        gpu = args.device == "gpu"
        self.env = {"TF_CPP_MIN_LOG_LEVEL": "2"}
        if gpu:
            # JAX takes 75% of the GPU by default: the search of part c
            # needs nearly all of it; TensorFlow allocates as it grows.
            self.env.update(XLA_PYTHON_CLIENT_MEM_FRACTION="0.95", TF_FORCE_GPU_ALLOW_GROWTH="true")
        # One JAX compilation cache for the run's workers: the programs
        # several of them share (variable initialisers, the same step in
        # parts a and b) compile once. It changes warm-up time only.
        self.cache = None
        if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
            self.cache = tempfile.mkdtemp(prefix="gpu_check_jax_cache.")
            self.env.update(JAX_COMPILATION_CACHE_DIR=self.cache, JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")
        if args.smoke and not gpu:
            # Smoke figures are no measurements: XLA's CPU compiler at its
            # lowest optimisation level compiles the steps in half the time.
            self.env["XLA_FLAGS"] = "--xla_backend_optimization_level=0"
        for key, value in self.env.items():
            os.environ.setdefault(key, value)

    def close(self):
        if self.cache:
            shutil.rmtree(self.cache, ignore_errors=True)

    # -- time
    def elapsed(self):
        return time.monotonic() - self.started

    def start_part(self, key, keys_left):
        now = time.monotonic()
        share = SHARES[key] / sum(SHARES[k] for k in keys_left)
        self.part = key
        self.part_deadline = now + max(0.0, self.deadline - now) * share

    def timeout(self):
        """The timeout of a measurement starting now, or None when the
        part's share or the whole budget leaves too little to start one."""
        now = time.monotonic()
        least = self.profile["min_start_s"]
        if self.part_deadline - now < least or self.deadline - now < least:
            return None
        return min(self.profile["timeouts"][self.part], self.deadline - now)

    # -- what can run
    def missing(self, contender, backend):
        """A "skipped: ..." status when a package this run needs is missing."""
        needs = {"keras_vit": ["keras", backend], "keras_hub": ["keras", backend, "keras_hub"],
                 "timm": ["torch", "timm"], "timm-compile": ["torch", "timm"]}[contender]
        for name in needs:
            if not self.installed.get(name, False):
                return f"skipped: {name} is not installed"
        return None

    def settings(self, batch_size, flash="auto"):
        p = self.profile
        return argparse.Namespace(batch_size=batch_size, image_size=p["image_size"], precision="bf16",
                                  warmup=p["warmup"], steps=p["steps"], device=self.args.device,
                                  flash=flash, tasks=["train"])

    def figures(self, model, batch, step_s):
        flops = 3 * speed.forward_flops(model, self.profile["image_size"]) * batch / step_s
        return dict(images_per_s=batch / step_s, train_tflops_per_s=flops / 1e12,
                    mfu=flops / 1e12 / self.args.peak_tflops)

    # -- measurements
    def largest_batch(self, contender, backend, model, start, flash="auto"):
        """Trains at `start`, then half of it while it runs out of memory;
        a fresh speed.py worker process for each batch."""
        trials, batch, result = [], start, None
        while batch >= 1:
            timeout = self.timeout()
            if timeout is None:
                result = {"status": "skipped: time budget"}
                break
            result = speed.measure(contender, backend, model, "default", self.settings(batch, flash), timeout)
            trials.append(dict(batch_size=batch, status=result["status"], wall_s=result.get("wall_s")))
            print(f"    batch {batch}: {result['status']}", flush=True)
            if not result["status"].startswith("oom"):
                break
            batch //= 2
        run = dict(contender=contender, backend=backend, model=model, flash=flash, trials=trials)
        if result is None or result["status"].startswith("oom"):
            run["status"] = "failed: out of memory at every batch down to 1"
        elif result["status"] == "ok":
            run.update(status="ok", batch_size=batch, train_step_s=result["train_step_s"],
                       peak_memory_mb=result["peak_memory_mb"], params=result.get("params"),
                       **self.figures(model, batch, result["train_step_s"]))
        elif result["status"] == "skipped: time budget" and trials:
            run["status"] = f"incomplete: time budget (out of memory down to batch {trials[-1]['batch_size']})"
        else:
            run["status"] = result["status"]
        return run

    def search(self, backend, config):
        """The largest power-of-two batch of the `huge` model that trains:
        an ascending search in one process, then halving in fresh processes
        where the jump overshot."""
        p, args = self.profile, self.args
        command = [sys.executable, os.path.abspath(__file__), "--search-worker", "--model", p["huge"],
                   "--config", config, "--image-size", str(p["image_size"]), "--cap", str(p["huge_cap"]),
                   "--warmup", "1", "--steps", str(p["search_steps"]), "--device", args.device,
                   "--precision", "bf16"]
        env = speed.worker_env(backend, args.device)
        trials, notes, limit, params = [], [], None, None

        def launch(extra):
            nonlocal limit, params
            timeout = self.timeout()
            if timeout is None:
                notes.append("time budget")
                return False
            result, lines = speed.run_worker(command + extra, env, timeout)
            new = [json.loads(line[len("TRIAL "):]) for line in lines if line.startswith("TRIAL ")]
            for trial in new:
                print(f"    batch {trial['batch_size']}: {trial['status']}", flush=True)
            trials.extend(new)
            limit = result.get("memory_limit_mb", limit)
            params = result.get("params", params)
            if result["status"] != "ok":
                notes.append(result["status"])
            return True

        launch(["--first", "1"])
        while True:
            fits = [t["batch_size"] for t in trials if t["status"] == "ok"]
            oom = [t["batch_size"] for t in trials if t["status"].startswith("oom")]
            best, over = max(fits, default=0), min(oom, default=None)
            if over is None or best >= over // 2 or any(t["status"].startswith("failed") for t in trials):
                break
            if not launch(["--first", str(over // 2), "--single"]):
                break
        run = dict(contender="keras_vit", backend=backend, model=p["huge"], config=config,
                   memory_limit_mb=limit, params=params, trials=trials)
        failed = [t["status"] for t in trials if t["status"].startswith("failed")]
        fits = [t for t in trials if t["status"] == "ok"]
        best = max(fits, key=lambda t: t["batch_size"]) if fits else None
        done = best is not None and (best["batch_size"] >= p["huge_cap"] or any(
            t["status"].startswith("oom") and t["batch_size"] == 2 * best["batch_size"] for t in trials))
        if failed:
            run["status"] = failed[0]
        elif best is None:
            run["status"] = notes[0] if notes and notes[0].startswith(("skipped", "timed out", "failed")) \
                else ("skipped: time budget" if "time budget" in notes else "failed: batch 1 does not fit")
        elif done:
            run["status"] = "ok"
        else:
            run["status"] = (f"incomplete: stopped ({'; '.join(notes) or 'time budget'}) with "
                             f"batch {best['batch_size']} fitting")
        if best is not None:
            run.update(max_batch=best["batch_size"], peak_memory_mb=best["peak_memory_mb"],
                       train_step_s=best["train_step_s"],
                       **self.figures(p["huge"], best["batch_size"], best["train_step_s"]))
            if best["batch_size"] >= p["huge_cap"]:
                run["note"] = f"fits at the cap ({p['huge_cap']}); larger batches not tried"
        return run

    def fit(self, strategy, backend):
        p, args = self.profile, self.args
        command = [sys.executable, os.path.abspath(__file__), "--fit-worker", "--strategy", strategy,
                   "--model", p["fit_model"], "--image-size", str(p["image_size"]),
                   "--batch-size", str(p["fit_batch"]), "--steps", str(p["fit_steps"]),
                   "--device", args.device, "--precision", "bf16"]
        timeout = self.timeout()
        if timeout is None:
            return dict(strategy=strategy, backend=backend, status="skipped: time budget")
        result, _ = speed.run_worker(command, speed.worker_env(backend, args.device), timeout)
        return dict(strategy=strategy, backend=backend, model=p["fit_model"], **result)

    # -- the parts
    def backend_rows(self, wanted):
        """(backend, None or a skip status) for each of `wanted`."""
        rows = []
        for backend in wanted:
            if not self.installed.get(backend):
                rows.append((backend, f"skipped: {backend} is not installed"))
            elif backend not in self.args.backends:
                rows.append((backend, f"skipped: {backend} is not in --backends"))
            else:
                rows.append((backend, None))
        return rows

    def part_a(self):
        p, runs = self.profile, []
        contenders = [("keras_vit", b) for b in self.args.backends] + [
            ("timm", "torch-eager"), ("timm-compile", "torch-compile")] + [
            ("keras_hub", b) for b in self.args.backends]
        for contender, backend in contenders:
            print(f"  {contender} ({backend})", flush=True)
            skip = self.missing(contender, backend if backend in speed.KERAS_BACKENDS else "torch")
            run = (dict(contender=contender, backend=backend, model=p["model"], status=skip) if skip else
                   self.largest_batch(contender, backend, p["model"], p["batch_cap"]))
            runs.append(run)
        return runs

    def part_b(self, part_a_runs):
        p, runs = self.profile, []
        found = {r["backend"]: r["batch_size"] for r in part_a_runs
                 if r["contender"] == "keras_vit" and r["status"] == "ok"}
        for backend, skip in self.backend_rows(["jax", "torch"]):
            for flash in ("on", "off"):
                print(f"  keras_vit flash {flash} ({backend})", flush=True)
                skip = skip or self.missing("keras_vit", backend)
                if skip:
                    runs.append(dict(contender="keras_vit", backend=backend, flash=flash, status=skip))
                    continue
                runs.append(self.largest_batch("keras_vit", backend, p["model"],
                                               found.get(backend, p["batch_cap"]), flash=flash))
        return runs

    def part_c(self):
        runs = []
        for backend, skip in self.backend_rows(["jax", "torch"]):
            for config in ("default", "remat"):
                print(f"  keras_vit {self.profile['huge']} [{config}] ({backend})", flush=True)
                skip = skip or self.missing("keras_vit", backend)
                runs.append(dict(contender="keras_vit", backend=backend, config=config, status=skip)
                            if skip else self.search(backend, config))
        return runs

    def part_d(self):
        runs = []
        for (backend, skip), strategy in zip(self.backend_rows(["jax", "tensorflow"]),
                                             ("data-parallel", "mirrored")):
            print(f"  fit under {strategy} ({backend})", flush=True)
            skip = skip or self.missing("keras_vit", backend)
            runs.append(dict(strategy=strategy, backend=backend, status=skip) if skip
                        else self.fit(strategy, backend))
            print(f"    {runs[-1]['status']}", flush=True)
        return runs


def format_report(report):
    """The table of a gpu_check report, under the machine lines."""
    machine = report["machine"]
    gpus = machine["gpu"]["gpus"]
    gpu_text = "; ".join(
        f"{g['name']}" + (f" (driver {g['driver']}, {g['memory_mb']:.0f} MiB)" if "driver" in g else "")
        for g in gpus) or f"none ({machine['gpu'].get('note') or 'not found'})"
    matmul = report["matmul"]
    bf16 = matmul.get("bf16_gflops_per_s")
    lines = [f"GPU: {gpu_text}",
             f"CPU: {speed.format_cpu(machine['cpu'])}",
             f"matmul: NumPy fp32 (CPU) {matmul['fp32_numpy_gflops_per_s']:.1f} GFLOP/s; torch bf16 "
             + (f"({matmul['bf16_device']}) {bf16 / 1000:.1f} TFLOP/s" if bf16 else matmul.get("bf16_note", "-")),
             f"MFU against {report['peak_tflops']:g} TFLOP/s ({report['peak_source']}); "
             f"wall time {report['wall_s']:.0f} s of a {report['settings']['budget_s']:.0f} s budget",
             "",
             "| part | run | backend | status | batch | img/s | TFLOP/s (MFU) | peak MB |",
             "|---|---|---|---|---|---|---|---|"]
    for key, part in report["parts"].items():
        lines.append(f"| {key} | {part['title']} | | {part['status']} | | | | |")
        for run in part.get("runs", []):
            name = run.get("contender") or run.get("strategy")
            if "flash" in run and key.startswith("b"):
                name += f" flash {run['flash']}"
            if "config" in run:
                name += f" [{run['config']}]"
            if "strategy" in run:
                name = f"fit, {run['strategy']}" + (f" x{run['replicas']}" if "replicas" in run else "")
            batch = run.get("max_batch", run.get("batch_size", ""))
            ips = f"{run['images_per_s']:.1f}" if "images_per_s" in run else ""
            tflops = (f"{run['train_tflops_per_s']:.3g} ({100 * run['mfu']:.1f}%)"
                      if "train_tflops_per_s" in run else "")
            peak = f"{run['peak_memory_mb']:.0f}" if run.get("peak_memory_mb") is not None else ""
            status = run["status"]
            if "loss" in run:
                status += f" (loss {run['loss']:.3f})"
            lines.append(f"| | {name} | {run.get('backend', '')} | {status} | {batch} | {ips} | {tflops} | {peak} |")
    return "\n".join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("gpu", "cpu"), default="gpu")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny sizes (a 2-block, 32-wide ViT at 32 px, batches up to 4): checks the parts run")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"),
                        help="folder for the JSON report (a new timestamped name)")
    parser.add_argument("--output", default=None,
                        help="the JSON file to write instead; an existing file is never overwritten")
    parser.add_argument("--budget-s", type=float, default=None,
                        help="seconds for the whole check (default 440; --smoke 360)")
    parser.add_argument("--peak-tflops", type=float, default=None,
                        help=f"the device's dense bf16 peak for MFU (default {DEFAULT_PEAK_TFLOPS:g}, H100/H200; "
                             "on the CPU, NumPy's fp32 matmul figure)")
    parser.add_argument("--backends", nargs="+", choices=speed.KERAS_BACKENDS, default=None,
                        help="Keras backends (default: each one installed)")
    parser.add_argument("--parts", nargs="+", choices=sorted(PARTS), default=sorted(PARTS))
    worker = parser.add_argument_group("workers (internal)")
    for flag in ("--search-worker", "--fit-worker", "--single"):
        worker.add_argument(flag, action="store_true", help=argparse.SUPPRESS)
    for flag, kind in (("--model", str), ("--config", str), ("--image-size", int), ("--first", int),
                       ("--cap", int), ("--warmup", int), ("--steps", int), ("--batch-size", int),
                       ("--strategy", str), ("--precision", str)):
        worker.add_argument(flag, type=kind, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.search_worker or args.fit_worker:
        return args
    if args.budget_s is not None and args.budget_s <= 0:
        parser.error(f"--budget-s must be > 0, got {args.budget_s}")
    if args.output is not None:
        if not args.output.endswith(".json"):
            parser.error(f"--output must name a .json file, got {args.output}")
        if os.path.exists(args.output):
            parser.error(f"{args.output} exists; pass another --output (results are never overwritten)")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.search_worker:
        return search_worker(args)
    if args.fit_worker:
        return fit_worker(args)
    now, started = time.time(), time.monotonic()
    profile = PROFILES["smoke" if args.smoke else "full"]
    if args.budget_s is None:
        args.budget_s = profile["budget_s"]
    installed = importable(sys.executable)
    if args.backends is None:
        args.backends = [b for b in speed.KERAS_BACKENDS if installed.get(b)]
    cpu = speed.cpu_info()
    fp32 = speed.matmul_gflops()
    if args.device == "gpu":
        bf16, bf16_note = speed.matmul_bf16_gflops("cuda", size=8192)
    else:
        bf16, bf16_note = None, "not measured on the CPU (see benchmarks/speed.py --precision bf16)"
    if args.peak_tflops is None:
        args.peak_tflops = DEFAULT_PEAK_TFLOPS if args.device == "gpu" else fp32 / 1000
        source = ("the dense bf16 peak of an H100/H200 (--peak-tflops)" if args.device == "gpu"
                  else "NumPy's fp32 matmul on this CPU")
    else:
        source = "--peak-tflops"
    report = dict(
        kind="gpu_check", created_utc=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        settings=dict(device=args.device, smoke=args.smoke, budget_s=args.budget_s, backends=args.backends,
                      parts=args.parts, profile=profile),
        machine=dict(platform=f"{platform.system()} {platform.machine()}", python=platform.python_version(),
                     cpu=cpu, gpu=gpu_info(sys.executable, args.device)),
        versions=speed._versions(sys.executable), installed=installed,
        matmul=dict(fp32_numpy_gflops_per_s=fp32, bf16_gflops_per_s=bf16, bf16_note=bf16_note,
                    bf16_device="cuda" if args.device == "gpu" else None),
        peak_tflops=args.peak_tflops, peak_source=source, parts={})
    print(f"gpu_check: device {args.device}{' (smoke)' if args.smoke else ''}, backends "
          f"{' '.join(args.backends) or 'none'}, budget {args.budget_s:.0f} s", flush=True)
    check = Check(args, installed, started)
    try:
        run_parts(check, report)
    finally:
        check.close()
    report["wall_s"] = round(check.elapsed(), 1)
    print()
    print(format_report(report))
    target = Path(args.output) if args.output else Path(args.out)
    path = write_new(target, report, args.device, args.smoke, now)
    print(f"saved {path}")


def run_parts(check, report):
    args, part_a_runs = check.args, []
    for index, key in enumerate(sorted(PARTS)):
        name, title = PARTS[key]
        title = title.format(**check.profile)
        entry = dict(title=title)
        report["parts"][f"{key}_{name}"] = entry
        if key not in args.parts:
            entry["status"] = "skipped: not in --parts"
            continue
        check.start_part(key, [k for k in sorted(PARTS)[index:] if k in args.parts])
        if check.timeout() is None:
            entry["status"] = "skipped: time budget"
            continue
        print(f"part {key}: {title}", flush=True)
        entry["started_s"] = round(check.elapsed(), 1)
        runs = {"a": check.part_a, "b": lambda: check.part_b(part_a_runs), "c": check.part_c,
                "d": check.part_d}[key]()
        if key == "a":
            part_a_runs = runs
        entry.update(status=part_status(runs), wall_s=round(check.elapsed() - entry["started_s"], 1), runs=runs)


if __name__ == "__main__":
    main()
