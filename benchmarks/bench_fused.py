"""fused_cross_entropy against torch.nn.functional.cross_entropy on the CPU.

Usage:  .venv/bin/python benchmarks/bench_fused.py [--quick] [--repeats R]

Prints, for (N, V) = (4096, 32768) float32:
  1. forward and forward+backward times, medians of interleaved runs in one
     process (torch at its default thread count), and the speed ratios; with
     them, what bounds the ratios: NumPy's and torch's exp over every logit,
     and the kernel's zeroing of a fresh (N, V) array;
  2. peak resident memory of each path beyond its inputs and the gradient it
     returns, each measured in a fresh subprocess (growth of the kernel's
     peak-RSS mark VmHWM, which unlike ru_maxrss can be reset and is not
     inherited from the parent process);
  3. the fused forward with other block sizes (``fused.BLOCK_BYTES``);
  4. agreement with torch for every option (float32 tolerance from
     celoss.TOLERANCES; the gradient also against torch in float64);
  5. a sweep over V (1k to 256k) and over N: time and peak memory of each path.

A benchmark, not a test: numbers depend on the machine and on what else runs
on it. tests/test_fused.py checks values and the deterministic memory bound.
"""

import argparse
import itertools
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
import torch.nn.functional as F

import celoss
from celoss import fused
from celoss.fused import fused_cross_entropy

MiB = 1 << 20
TARGET_SHAPE = (4096, 32768)
PATHS = ["torch forward", "fused forward", "torch forward+backward", "fused forward+backward",
         "fused forward+backward, out="]


def make_inputs(num_rows, num_classes, seed=0):
    """float32 logits drawn in place (no float64 temporary) and int64 targets."""
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((num_rows, num_classes), dtype=np.float32)  # (N, V)
    logits *= 2.0
    targets = rng.integers(0, num_classes, size=num_rows)  # (N,)
    return logits, targets


def path_functions(logits, targets):
    """Each benchmarked path as a function returning what the caller keeps."""
    x, y = torch.from_numpy(logits), torch.from_numpy(targets)
    out = np.empty_like(logits) if logits.size <= 2**28 else None

    def torch_forward():
        return F.cross_entropy(x, y)

    def torch_forward_backward():
        leaf = x.detach().requires_grad_(True)
        F.cross_entropy(leaf, y).backward()
        return leaf.grad

    functions = {
        "torch forward": torch_forward,
        "fused forward": lambda: fused_cross_entropy(logits, targets),
        "torch forward+backward": torch_forward_backward,
        "fused forward+backward": lambda: fused_cross_entropy(logits, targets,
                                                              return_grad=True),
    }
    if out is not None:
        functions["fused forward+backward, out="] = lambda: fused_cross_entropy(
            logits, targets, return_grad=True, out=out)
    return functions


def floor_functions(logits):
    """The costs no fused path in NumPy can go below, and torch's own exp.

    * every logit shifted by its row's maximum and exponentiated with NumPy,
      on the fused path's threads and blocks, in a reused scratch block, as
      the fused forward does (it also finds the maxima and sums the block);
      exp in place in the cache: NumPy's exp reading straight from the (N, V)
      array into another was 3x slower on the benchmark machine;
    * the same exponentials with torch's kernel, into a preallocated array;
    * a fresh (N, V) float32 array whose pages are touched once: the kernel
      zeroes each page on first touch, a cost any path that returns a new
      gradient pays (torch pays it twice: the log-softmax and the gradient).
    """
    rows, _ = fused.block_shape(logits.shape[1], logits.itemsize)
    x, exps = torch.from_numpy(logits), torch.empty(logits.shape)
    row_max = logits.max(axis=1, keepdims=True)  # (N, 1)
    starts = range(0, logits.shape[0], rows)

    def numpy_exp():
        def worker(first):
            scratch = np.empty((rows, logits.shape[1]), logits.dtype)
            for start in starts[first::fused.WORKERS]:
                block = slice(start, start + rows)
                shifted = scratch[:len(row_max[block])]
                np.subtract(logits[block], row_max[block], out=shifted)
                np.exp(shifted, out=shifted)

        with ThreadPoolExecutor(fused.WORKERS) as pool:
            list(pool.map(worker, range(fused.WORKERS)))

    def fresh_array():
        array = np.empty(logits.shape, logits.dtype)
        array.reshape(-1)[::1024] = 0  # one write per 4 KiB page
        return array

    return {"numpy shift+exp, every logit": numpy_exp,
            "torch exp of every logit": lambda: torch.exp(x, out=exps),
            "fresh (N, V) array, touched": fresh_array}


def interleaved_times(functions, repeats):
    """Seconds per call of each function: one call of each per round, in turn."""
    for function in functions.values():
        function()  # warm up: thread pools, allocator, caches
    times = {name: [] for name in functions}
    for round_ in range(repeats):
        names = list(functions)
        if round_ % 2:
            names.reverse()  # neither path always runs right after the other
        for name in names:
            start = time.perf_counter()
            result = functions[name]()
            times[name].append(time.perf_counter() - start)
            del result
    return times


def resident_bytes(field):
    """``VmRSS`` (now) or ``VmHWM`` (peak) of this process, from /proc/self/status."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


def reset_peak_resident():
    """Set the peak (VmHWM) to the current RSS, so the next peak is this call's."""
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def measure_memory_in_this_process(path, num_rows, num_classes):
    """Peak RSS growth of one call of ``path`` beyond inputs and returned gradient.

    The peak is the kernel's high-water mark VmHWM, reset to the current RSS
    once the inputs exist. (getrusage's ru_maxrss cannot be reset, and a child
    process inherits its parent's value across fork and exec.)
    """
    logits, targets = make_inputs(num_rows, num_classes)
    functions = path_functions(logits, targets)
    functions.pop("fused forward+backward, out=", None)
    if path == "fused forward+backward, out=":
        out = np.ones_like(logits)  # the caller's array, resident before the call
        functions[path] = lambda: fused_cross_entropy(logits, targets, return_grad=True,
                                                      out=out)
    reset_peak_resident()
    baseline = resident_bytes("VmRSS")
    result = functions[path]()
    peak = resident_bytes("VmHWM")
    returned = 0
    if isinstance(result, tuple) and path.endswith("forward+backward"):
        returned = result[1].nbytes  # the gradient the caller asked for
    elif isinstance(result, torch.Tensor) and result.numel() == logits.size:
        returned = result.numel() * result.element_size()
    return {"extra": peak - baseline - returned, "baseline": baseline,
            "inputs": logits.nbytes + targets.nbytes, "returned": returned}


def memory_in_fresh_process(path, num_rows, num_classes):
    """Run measure_memory_in_this_process in a new interpreter."""
    here = os.path.dirname(os.path.abspath(__file__))
    code = (f"import json, sys; sys.path.insert(0, {here!r}); import bench_fused; "
            "print(json.dumps(bench_fused.measure_memory_in_this_process("
            f"{path!r}, {num_rows}, {num_classes})))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def option_sets(num_classes, rng):
    """Every combination of the options, with some targets ignored when asked."""
    weight = rng.uniform(0.5, 2.0, size=num_classes).astype(np.float32)
    for reduction, weighted, smoothing, ignore in itertools.product(
            ["mean", "sum", "none"], [False, True], [0.0, 0.1], [False, True]):
        yield {"reduction": reduction, "weight": weight if weighted else None,
               "label_smoothing": smoothing, "ignore_index": 7 if ignore else -100}


def torch_loss_and_grad(logits, targets, options):
    x = torch.from_numpy(logits).requires_grad_(True)
    if options["weight"] is not None:
        options = {**options, "weight": torch.from_numpy(options["weight"]).to(x.dtype)}
    loss = F.cross_entropy(x, torch.from_numpy(targets), **options)
    (loss.sum() if options["reduction"] == "none" else loss).backward()
    return loss.detach().numpy(), x.grad.numpy()


def check_every_option(num_rows, num_classes):
    """Largest deviation from torch over all option combinations, and a verdict."""
    rng = np.random.default_rng(1)
    logits, targets = make_inputs(num_rows, num_classes, seed=1)
    targets[::5] = 7  # some targets are class 7, ignored when ignore_index=7
    rtol, atol = celoss.TOLERANCES["float32"]
    rows = []
    for options in option_sets(num_classes, rng):
        loss, grad = fused_cross_entropy(logits, targets, return_grad=True, **options)
        torch_loss, torch_grad = torch_loss_and_grad(logits, targets, options)
        options64 = {**options, "weight": None if options["weight"] is None
                     else options["weight"].astype(np.float64)}
        exact_loss, exact_grad = torch_loss_and_grad(logits.astype(np.float64), targets,
                                                     options64)
        checks = {
            "loss vs torch float32": (loss, torch_loss),
            "loss vs torch float64": (loss, exact_loss),
            "grad vs torch float64": (grad, exact_grad),
            "grad vs torch float32": (grad, torch_grad),
        }
        result = {}
        for name, (ours, theirs) in checks.items():
            ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
            excess = np.max(np.abs(ours - theirs) - (atol + rtol * np.abs(theirs)))
            result[name] = (float(np.max(np.abs(ours - theirs))), bool(excess <= 0))
        rows.append((options, result))
    return rows


def describe(options):
    weighted = "yes" if options["weight"] is not None else "no"
    return (f"{options['reduction']:4s} weight={weighted:3s} "
            f"eps={options['label_smoothing']:.1f} ignore={options['ignore_index']:4d}")


def report_headline(repeats):
    num_rows, num_classes = TARGET_SHAPE
    logits, targets = make_inputs(num_rows, num_classes)
    print(f"(N, V) = {TARGET_SHAPE} float32: logits {logits.nbytes / MiB:.0f} MiB; "
          f"torch {torch.__version__} with {torch.get_num_threads()} threads; numpy "
          f"{np.__version__} (float32 exp: {exp_kernel()}); fused: {fused.WORKERS} threads, "
          f"{fused.BLOCK_BYTES // 1024} KiB blocks")
    blas_env = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
                if k in os.environ}
    print(f"environment: {blas_env or 'no OPENBLAS_* overrides'}; {machine_load()} before")
    floors = floor_functions(logits)
    times = interleaved_times({**path_functions(logits, targets), **floors}, repeats)
    print(f"   ({machine_load()} after: other processes on the machine slow both sides)")
    print(f"\n1. Time, median of {repeats} interleaved runs (min in brackets)")
    for name, values in times.items():
        print(f"   {name:30s} {np.median(values) * 1e3:8.1f} ms  "
              f"[{np.min(values) * 1e3:7.1f}]")
    forward = np.median(times["torch forward"]) / np.median(times["fused forward"])
    both = (np.median(times["torch forward+backward"])
            / np.median(times["fused forward+backward"]))
    both_out = (np.median(times["torch forward+backward"])
                / np.median(times["fused forward+backward, out="]))
    print(f"   speed-up forward:            {forward:5.2f}x (target >= 2.0x)")
    print(f"   speed-up forward+backward:   {both:5.2f}x (target >= 3.0x)")
    print(f"   ... with out= (no allocation): {both_out:5.2f}x")
    median = {name: np.median(values) for name, values in times.items()}
    exp_numpy = median["numpy shift+exp, every logit"]
    exp_torch = median["torch exp of every logit"]
    fresh = median["fresh (N, V) array, touched"]
    with_fresh = median["fused forward+backward, out="] + fresh
    print("   What bounds the ratios on this machine:")
    print(f"   - NumPy's shift and exp take {exp_numpy / exp_torch:.2f}x as long as torch's exp "
          "over the same logits; a fused forward that did only those would be "
          f"{median['torch forward'] / exp_numpy:.2f}x faster than torch")
    print(f"   - a fresh gradient's pages cost {fresh * 1e3:.0f} ms to zero; with out='s time "
          "plus that, forward+backward would be "
          f"{median['torch forward+backward'] / with_fresh:.2f}x faster")
    del logits, targets, floors

    print("\n2. Peak resident memory beyond inputs and returned gradient (fresh process each)")
    for name in PATHS:
        memory = memory_in_fresh_process(name, num_rows, num_classes)
        print(f"   {name:30s} {memory['extra'] / MiB:8.1f} MiB   (returned "
              f"{memory['returned'] / MiB:.0f} MiB; target for fused <= 32 MiB)")
    return forward, both


def report_blocks(repeats):
    """The fused forward at the target shape with other ``fused.BLOCK_BYTES``."""
    logits, targets = make_inputs(*TARGET_SHAPE)
    sizes = [128 << 10, 256 << 10, 512 << 10, 1 << 20, 4 << 20]
    saved = fused.BLOCK_BYTES

    def with_blocks(size):
        def run():
            fused.BLOCK_BYTES = size
            try:
                return fused_cross_entropy(logits, targets)
            finally:
                fused.BLOCK_BYTES = saved
        return run

    times = interleaved_times({size: with_blocks(size) for size in sizes}, repeats)
    print(f"\n3. Fused forward against the block size (BLOCK_BYTES = {saved >> 10} KiB), "
          f"median of {repeats}")
    for size, values in times.items():
        print(f"   {size >> 10:5d} KiB blocks {np.median(values) * 1e3:8.1f} ms")


def report_options(num_rows, num_classes):
    print(f"\n4. Agreement with torch for every option, (N, V) = ({num_rows}, {num_classes}) "
          f"float32; rtol, atol = {celoss.TOLERANCES['float32']}")
    rows = check_every_option(num_rows, num_classes)
    names = list(rows[0][1])
    print("   " + " " * 40 + "  ".join(f"{name:>22s}" for name in names))
    for options, result in rows:
        cells = "  ".join(f"{diff:12.2e} {'ok' if ok else 'OVER':>9s}"
                          for diff, ok in result.values())
        print(f"   {describe(options):40s}{cells}")
    for name in names:
        passed = sum(result[name][1] for _, result in rows)
        print(f"   {name}: {passed}/{len(rows)} option sets within tolerance")


def report_sweep(vocabularies, batches, repeats):
    print("\n5. Sweep: median time (ms) and peak extra memory (MiB) of each path")
    header = (f"   {'N':>6s} {'V':>7s} {'logits MiB':>10s} | {'torch fwd':>9s} {'fused fwd':>9s}"
              f" {'torch f+b':>9s} {'fused f+b':>9s} | {'torch fwd':>9s} {'fused fwd':>9s}"
              f" {'torch f+b':>9s} {'fused f+b':>9s}")
    print(header)
    shown = ["torch forward", "fused forward", "torch forward+backward", "fused forward+backward"]
    for num_rows, num_classes in [(1024, v) for v in vocabularies] + [(n, 32768)
                                                                     for n in batches]:
        logits, targets = make_inputs(num_rows, num_classes)
        functions = {name: f for name, f in path_functions(logits, targets).items()
                     if name in shown}
        times = interleaved_times(functions, repeats)
        del functions, logits, targets
        memory = {name: memory_in_fresh_process(name, num_rows, num_classes)["extra"]
                  for name in shown}
        print(f"   {num_rows:6d} {num_classes:7d} {num_rows * num_classes * 4 / MiB:10.0f} | "
              + " ".join(f"{np.median(times[name]) * 1e3:9.1f}" for name in shown) + " | "
              + " ".join(f"{memory[name] / MiB:9.1f}" for name in shown), flush=True)


def machine_load():
    """Load average and CPU pressure (share of time runnable tasks waited for a CPU)."""
    try:
        with open("/proc/pressure/cpu") as pressure:
            avg10 = pressure.readline().split()[1].split("=")[1]
        stall = f", CPU pressure {avg10}% (avg10)"
    except OSError:
        stall = ""
    return f"load average {os.getloadavg()[0]:.2f}{stall}"


def exp_kernel():
    """Which SIMD target NumPy dispatches float32 exp to on this CPU."""
    try:
        from numpy._core import _multiarray_umath
        return _multiarray_umath.__cpu_targets_info__["exp"]["ff"]["current"]
    except (ImportError, KeyError, AttributeError):
        return "unknown"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--quick", action="store_true", help="fewer runs, smaller sweep")
    parser.add_argument("--skip", nargs="*", default=[], choices=["blocks", "options", "sweep"])
    args = parser.parse_args()
    report_headline(args.repeats)
    if "blocks" not in args.skip:
        report_blocks(3 if args.quick else 5)
    if "options" not in args.skip:
        report_options(512 if args.quick else 1024, 32768)
    if "sweep" not in args.skip:
        vocabularies = [1024, 8192, 32768, 131072] if args.quick else \
            [1024, 4096, 16384, 32768, 65536, 131072, 262144]
        batches = [256, 4096] if args.quick else [256, 1024, 4096, 8192]
        report_sweep(vocabularies, batches, 3 if args.quick else 5)


if __name__ == "__main__":
    main()
