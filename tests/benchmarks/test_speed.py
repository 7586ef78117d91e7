"""benchmarks/speed.py without running a model: the CPU line read from a
given /proc/cpuinfo, the precisions a run measures, the tables of a report
and their utilisation reference, and the command line. The measurements
themselves run in tests/benchmarks/test_gpu_check.py's smoke check (which
drives speed.py's workers). Plain Python: runs once, under TensorFlow."""

import importlib.util

import pytest

from tests.benchmarks import BENCHMARKS

pytestmark = pytest.mark.backend_independent


SAPPHIRE_RAPIDS = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu vme sse sse2 avx avx2 fma avx512f avx512bw avx512_bf16 amx_bf16 amx_tile amx_int8

processor\t: 1
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu vme sse sse2 avx avx2 fma avx512f avx512bw avx512_bf16 amx_bf16 amx_tile amx_int8
"""
EPYC = "processor : 0\nmodel name : AMD EPYC 7B13\nflags : fpu sse2 avx avx2 fma avx512fake\n"
ARM = "processor : 0\nBogoMIPS : 50.00\nFeatures : fp asimd evtstrm aes\nCPU implementer : 0x41\n"


@pytest.fixture(scope="module")
def speed():
    spec = importlib.util.spec_from_file_location("speed", BENCHMARKS / "speed.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cpu_info_reads_the_model_cores_and_flags(speed):
    info = speed.cpu_info(SAPPHIRE_RAPIDS)
    assert info == {"model": "Intel(R) Xeon(R) Platinum 8480+", "cores": 2, "avx2": True, "avx512f": True,
                    "avx512_bf16": True, "amx_bf16": True, "amx_tile": True}
    info = speed.cpu_info(EPYC)
    assert info["model"] == "AMD EPYC 7B13" and info["cores"] == 1
    assert info["avx2"] is True
    # Whole words only: "avx512fake" is not avx512f.
    assert [info[flag] for flag in ("avx512f", "avx512_bf16", "amx_bf16", "amx_tile")] == [False] * 4
    assert speed.format_cpu(info) == ("AMD EPYC 7B13, 1 cores; AVX2 yes, AVX512F no, AVX512_BF16 no, "
                                      "AMX-BF16 no, AMX-TILE no")


def test_cpu_info_without_a_flags_line_says_unknown(speed):
    info = speed.cpu_info(ARM)
    assert all(info[flag] == "unknown" for flag in speed.CPU_FLAGS)
    assert isinstance(info["model"], str) and info["model"]
    assert info["cores"] == 1
    assert "AMX-TILE unknown" in speed.format_cpu(info)
    assert speed.cpu_info("")["avx2"] == "unknown"  # no /proc/cpuinfo (not Linux)


def test_every_speed_table_starts_with_the_cpu_the_precision_and_its_reference(speed):
    report = dict(settings=dict(peak_tflops=None, precision="fp32"), matmul_gflops_per_s=100.0,
                  cpu=speed.cpu_info(EPYC), runs=[])
    lines = speed.format_table(report).splitlines()
    assert lines[0] == ("CPU: AMD EPYC 7B13, 1 cores; AVX2 yes, AVX512F no, AVX512_BF16 no, AMX-BF16 no, "
                        "AMX-TILE no. Precision: fp32. Utilisation: % of NumPy's fp32 matmul, 100.0 GFLOP/s.")
    assert "(% of matmul)" in lines[2]
    report["settings"]["precision"] = "bf16"  # a report of one precision, as written before several
    report["matmul_bf16_gflops_per_s"] = 300.0  # native bf16: the reference
    assert speed.matmul_reference(report)[:2] == (300.0, "% of bf16 matmul")
    report["matmul_bf16_gflops_per_s"] = 1.3  # emulated bf16: fp32 stays the reference
    reference, label, described = speed.matmul_reference(report)
    assert (reference, label) == (100.0, "% of matmul") and "emulated" in described
    report["settings"]["peak_tflops"] = 989
    assert speed.matmul_reference(report)[:2] == (989_000, "MFU")
    del report["cpu"]  # reports written before the CPU was recorded
    assert speed.format_table(report).startswith("CPU: not recorded.")


def test_auto_precision_adds_bf16_only_where_it_is_native(speed):
    native, emulated = speed.cpu_info(SAPPHIRE_RAPIDS), speed.cpu_info(EPYC)
    assert speed.native_bf16(native) and not speed.native_bf16(emulated)
    assert not speed.native_bf16(speed.cpu_info(ARM)) and not speed.native_bf16(None)
    assert speed.resolve_precisions(["auto"], "cpu", native) == (["fp32", "bf16"], "")
    assert speed.resolve_precisions(["auto"], "gpu", emulated) == (["fp32", "bf16"], "")
    precisions, note = speed.resolve_precisions(["auto"], "cpu", emulated)
    assert precisions == ["fp32"]
    assert "bf16 not measured" in note and "AMX-BF16" in note and "--precision fp32 bf16" in note
    # Asked for explicitly: measured on any machine, in the order given.
    assert speed.resolve_precisions(["bf16", "fp32"], "cpu", emulated) == (["bf16", "fp32"], "")


def _run(model, contender, backend, precision, train):
    return dict(model=model, contender=contender, backend=backend, config="default", precision=precision,
                status="ok", train_images_per_s=train, infer_images_per_s=2 * train,
                train_gflops_per_s=10.0 * train, peak_memory_mb=100.0)


def test_a_report_of_two_precisions_has_a_table_each_with_ratios_within_it(speed):
    model = "vit_tiny_patch16_224"
    report = dict(settings=dict(peak_tflops=None, precision=["auto"]), precisions=["fp32", "bf16"],
                  precision_note="", matmul_gflops_per_s=100.0, matmul_bf16_gflops_per_s=300.0,
                  cpu=speed.cpu_info(SAPPHIRE_RAPIDS),
                  runs=[_run(model, "keras_vit", "jax", "fp32", 4.0), _run(model, "timm", "torch-eager", "fp32", 2.0),
                        _run(model, "keras_vit", "jax", "bf16", 9.0), _run(model, "timm", "torch-eager", "bf16", 6.0)])
    lines = speed.format_table(report).splitlines()
    headers = [i for i, line in enumerate(lines) if line.startswith("CPU: ")]
    assert len(headers) == 2
    assert "Precision: fp32. Utilisation: % of NumPy's fp32 matmul, 100.0 GFLOP/s." in lines[headers[0]]
    assert "Precision: bf16. Utilisation: % of torch's bf16 matmul, 300.0 GFLOP/s." in lines[headers[1]]
    fp32_rows = [line for line in lines[headers[0]:headers[1]] if line.startswith(f"| {model}")]
    bf16_rows = [line for line in lines[headers[1]:] if line.startswith(f"| {model}")]
    assert len(fp32_rows) == len(bf16_rows) == 2
    # timm is compared with keras_vit at its own precision: 4/2 in fp32, 9/6 in bf16.
    assert fp32_rows[1].split("|")[8].strip() == "2.00x"
    assert bf16_rows[1].split("|")[8].strip() == "1.50x"
    assert "(40%)" in fp32_rows[0] and "(30%)" in bf16_rows[0]  # 40 of 100, 90 of 300 GFLOP/s
    report["precision_note"] = "bf16 not measured: why"
    assert speed.format_table(report).splitlines()[-1] == "Note: bf16 not measured: why."


def test_precision_arguments(speed, tmp_path):
    output = str(tmp_path / "r.json")
    assert speed.parse_args(["--output", output]).precision == ["auto"]
    assert speed.parse_args(["--output", output, "--precision", "fp32", "bf16", "fp32"]).precision == ["fp32", "bf16"]
    with pytest.raises(SystemExit):
        speed.parse_args(["--output", output, "--precision", "auto", "bf16"])
    with pytest.raises(SystemExit):
        speed.parse_args(["--output", output, "--precision", "int8"])
    worker = ["--worker", "--contender", "timm", "--model", "vit_smoke_patch4_32"]
    assert speed.parse_args(worker + ["--precision", "bf16"]).precision == "bf16"
    with pytest.raises(SystemExit):
        speed.parse_args(worker + ["--precision", "fp32", "bf16"])


def test_a_peak_serves_one_precision_only(speed, tmp_path, monkeypatch):
    # Refused before any measurement: auto on a GPU means fp32 and bf16.
    monkeypatch.setattr(speed, "matmul_gflops", lambda *a, **k: pytest.fail("measured before refusing"))
    output = tmp_path / "r.json"
    with pytest.raises(SystemExit, match="--peak-tflops is the peak of one precision"):
        speed.main(["--device", "gpu", "--peak-tflops", "989", "--output", str(output)])
    assert not output.exists()
