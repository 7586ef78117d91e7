"""Throughput of tf.distribute on this machine: 1 vs 2 devices, 1 vs 2 workers.

Each configuration is a real `keras-vit train` run in fresh processes (the
device split and the worker cluster are fixed when TensorFlow starts), with
the same model, data and per-replica batch, so the global batch grows with
the replicas (weak scaling). The figure is the median training images/s of
the epochs after the first (compilation excluded), from each run's
metrics.json; the ratio is against the single-device run measured in the
same invocation.

    .venv/bin/python benchmarks/distribution.py            # prints a table
    .venv/bin/python benchmarks/distribution.py --json out.json --epochs 4

On a machine without accelerators the "devices" are logical CPU devices
sharing the same cores, and the "workers" are processes on 127.0.0.1 sharing
them too, so a ratio near or below 1 is what the hardware allows: the
benchmark shows the overhead of the distributed path, not a speed-up.
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = ["--image-size", "32", "--patch-size", "4", "--hidden-dim", "64", "--num-layers", "4",
         "--num-heads", "4", "--mlp-dim", "128", "--no-augment", "--warmup-epochs", "1", "--verbose", "0"]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch(flags, output, env=None):
    environment = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    command = [sys.executable, "-m", "keras_vit.cli", "train", "--output-dir", output, *MODEL, *flags]
    return subprocess.Popen(command, cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def finish(processes, output, timeout):
    try:
        for process in processes:
            _, err = process.communicate(timeout=timeout)
            if process.returncode:
                raise RuntimeError(f"a run failed:\n{err[-2000:]}")
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    with open(os.path.join(output, "metrics.json")) as handle:
        return json.load(handle)


def measure(name, flags, workers, args, scratch):
    output = os.path.join(scratch, name)
    common = ["--epochs", str(args.epochs), "--batch-size", str(args.batch_size), *flags]  # later flags win
    if workers == 1:
        metrics = finish([launch(common, output)], output, args.timeout)
    else:
        cluster = {"worker": [f"127.0.0.1:{free_port()}" for _ in range(workers)]}
        processes = [
            launch([*common, "--strategy", "multiworker"], output,
                   {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})})
            for i in range(workers)
        ]
        metrics = finish(processes, output, args.timeout)
    print(f"  {name}: {metrics['images_per_second']:.0f} images/s", flush=True)
    return metrics


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4, help="epochs per run, the first excluded (default: 4)")
    parser.add_argument("--batch-size", type=int, default=32, help="per-replica batch (default: 32)")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per run (default: 900)")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args(argv)

    runs = [
        ("1 device", ["--strategy", "auto"], 1),
        # Control: the 2-replica runs' global batch on one device, so a gain
        # from the larger batch is not credited to the distribution.
        ("1 device, 2x batch", ["--strategy", "auto", "--batch-size", str(2 * args.batch_size)], 1),
        ("2 logical devices (MirroredStrategy)", ["--strategy", "mirrored", "--cpu-devices", "2"], 1),
        ("2 worker processes (MultiWorkerMirroredStrategy)", [], 2),
    ]
    print(f"keras-vit distribution benchmark: ViT 4x64 on digits 32x32, {args.batch_size} images per replica, "
          f"{os.cpu_count()} CPU cores")
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        for name, flags, workers in runs:
            results[name] = measure(name, flags, workers, args, scratch)
    base = results["1 device"]["images_per_second"]
    print()
    print(f"| configuration | replicas | global batch | images/s | ratio vs 1 device |")
    print(f"|---|---|---|---|---|")
    for name, metrics in results.items():
        rate = metrics["images_per_second"]
        print(f"| {name} | {metrics['replicas']} | {metrics['global_batch_size']} | {rate:.0f} | {rate / base:.2f} |")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({name: {k: m[k] for k in ("replicas", "global_batch_size", "images_per_second")}
                       for name, m in results.items()}, handle, indent=2)
    return results


if __name__ == "__main__":
    main()
