"""How long the site takes to build: cold, unchanged, after a Markdown edit, after a src/ edit.

Run from the repository root::

    .venv/bin/python benchmarks/bench_build.py            # about 5 minutes on 2 idle cores
    .venv/bin/python benchmarks/bench_build.py --no-serve # without the `mkdocs serve` check

The project (mkdocs.yml, hooks/, docs/, overrides/, src/) is copied to a
temporary folder, with ``PYTHONPATH`` pointing at the copy's src/, so the
checkout and its caches are never touched and the first build is truly cold.
Then, in that copy:

1. **cold**: ``mkdocs build --strict`` with no cache at all;
2. **unchanged**: the same build again (``hooks/up_to_date.py`` finds no
   input changed and stops early), then **unchanged, full render**: the same
   with ``CELOSS_FULL_BUILD=1``, every page rendered again from the caches;
3. **Markdown edit**: a sentence appended to docs/index.md; no notebook may run;
4. **src/ edit**: a comment appended to src/celoss/__init__.py; every notebook
   must run again and the parity gate must not come from its cache (the
   library changed, so a cached result would be stale);
5. **mkdocs serve**: the server is started, docs/index.md edited, and the
   time until the rebuild finishes is measured; no notebook may run.

Each line of the table says the measured seconds and the goal from issue 6
(cold <= 90 s, unchanged <= 3 s, Markdown edit <= 5 s). The build log's own
lines ("notebook docs/x.py: executed in 12.3 s", the parity gate's time) are
repeated for the cold build. The load average is printed too: other work on
the machine slows every number. Exits non-zero if a correctness check fails
(a notebook ran when it must not, or did not run when it must); a missed
time goal is reported, not failed.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COPIED = ("mkdocs.yml", "hooks", "docs", "overrides", "src")
GOALS = {"cold": 90.0, "unchanged": 3.0, "markdown edit": 5.0, "serve, markdown edit": 5.0}
EXECUTED = re.compile(r"notebook (\S+): executed in ([\d.]+) s")
UP_TO_DATE = "Site up to date"
GATE = re.compile(r"celoss agrees with torch .*?\(([\d.]+) s(, cached[^)]*)?\)")


def copy_project(dest: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", ".cache", "site")
    dest.mkdir(parents=True)
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=ignore)
        elif source.is_file():
            shutil.copy(source, dest / name)
    return dest


#: The variables the Makefile gives `make docs` and `make serve`, so these are
#: the builds a reader gets (tests/test_docs_build.py checks they agree).
MAKE_ENV = {"NO_MKDOCS_2_WARNING": "1", "NBCONVERT_DISABLE_CONFIG_EXPORTERS": "1"}


def environment(project: Path, **extra: str) -> dict:
    return {**os.environ, "PYTHONPATH": str(project / "src"), **MAKE_ENV, **extra}


def build(project: Path, **extra_env: str) -> tuple[float, str]:
    """One ``mkdocs build --strict``; (wall seconds, log). Stops on a failed build."""
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(project / "site")],
        cwd=project, env=environment(project, **extra_env), capture_output=True, text=True,
        timeout=1800,
    )
    seconds = time.perf_counter() - start
    log = proc.stdout + proc.stderr
    if proc.returncode != 0:
        sys.exit(f"the build failed:\n{log[-3000:]}")
    return seconds, log


def notebooks(project: Path) -> list[str]:
    """The notebook pages of the nav: docs/*.py."""
    return sorted(p.name for p in (project / "docs").glob("*.py"))


def executed(log: str) -> dict[str, float]:
    return {Path(name).name: float(seconds) for name, seconds in EXECUTED.findall(log)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve_rebuild(project: Path, timeout: float = 300) -> tuple[float, str]:
    """Start ``mkdocs serve``, edit docs/index.md, time the rebuild; (seconds, log after edit)."""
    log_path = project / "serve.log"
    with open(log_path, "w") as log_file:
        server = subprocess.Popen(
            [sys.executable, "-m", "mkdocs", "serve", "--strict",
             "--dev-addr", f"127.0.0.1:{free_port()}"],
            cwd=project, env=environment(project), stdout=log_file, stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + timeout
        while "Serving on" not in log_path.read_text():
            if server.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"mkdocs serve did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        time.sleep(1.5)  # the watcher is armed shortly after "Serving on"
        before = len(log_path.read_text())
        with open(project / "docs" / "index.md", "a") as page:
            page.write("\nAnother sentence, written by benchmarks/bench_build.py (serve).\n")
        start = time.perf_counter()
        while True:
            after = log_path.read_text()[before:]
            if "Documentation built in" in after or "Aborted" in after or "ERROR" in after:
                break
            if server.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"mkdocs serve did not rebuild:\n{after[-3000:]}")
            time.sleep(0.05)
        return time.perf_counter() - start, after
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-serve", action="store_true", help="skip the mkdocs serve check")
    parser.add_argument("--keep", action="store_true", help="keep the temporary project")
    args = parser.parse_args()

    print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())} "
          f"on {os.cpu_count()} cores")
    tmp = Path(tempfile.mkdtemp(prefix="celoss-bench-build-"))
    project = copy_project(tmp / "project")
    pages = notebooks(project)
    rows, problems = [], []

    def row(name: str, seconds: float, note: str) -> None:
        rows.append((name, seconds, note))
        print(f"  {name}: {seconds:.1f} s ({note})", flush=True)
    try:
        cold, cold_log = build(project)
        row("cold", cold, f"{len(executed(cold_log))} of {len(pages)} notebooks run")
        for name, seconds in executed(cold_log).items():
            print(f"  build log: notebook {name} executed in {seconds:.1f} s")
        if gate := GATE.search(cold_log):
            print(f"  build log: parity gate {float(gate.group(1)):.1f} s")
        if sorted(executed(cold_log)) != pages:
            problems.append(f"cold build ran {sorted(executed(cold_log))}, expected {pages}")

        seconds, log = build(project)
        skipped = UP_TO_DATE in log
        row("unchanged", seconds, "site up to date, nothing rendered" if skipped
            else f"rendered, {len(executed(log))} notebooks run")
        if executed(log):
            problems.append(f"unchanged rebuild ran notebooks: {sorted(executed(log))}")

        seconds, log = build(project, CELOSS_FULL_BUILD="1")
        row("unchanged, full render", seconds,
            f"CELOSS_FULL_BUILD=1: every page rendered, {len(executed(log))} notebooks run")
        if executed(log) or UP_TO_DATE in log:
            problems.append("CELOSS_FULL_BUILD=1 did not render every page from the caches")

        with open(project / "docs" / "index.md", "a") as page:
            page.write("\nOne more sentence, written by benchmarks/bench_build.py.\n")
        seconds, log = build(project)
        row("markdown edit", seconds, f"{len(executed(log))} notebooks run")
        if UP_TO_DATE in log:
            problems.append("a Markdown edit was taken for an up-to-date site")
        if executed(log):
            problems.append(f"a Markdown edit ran notebooks: {sorted(executed(log))}")
        if "One more sentence" not in (project / "site" / "index.html").read_text():
            problems.append("the Markdown edit is not in the rebuilt page")

        with open(project / "src" / "celoss" / "__init__.py", "a") as init:
            init.write("\n# An edit by benchmarks/bench_build.py: every notebook must run again.\n")
        seconds, log = build(project)
        gate = GATE.search(log)
        cached_gate = bool(gate and gate.group(2))
        row("src/ edit", seconds,
            f"{len(executed(log))} of {len(pages)} notebooks run, parity gate "
            + ("CACHED" if cached_gate else "re-run"))
        if sorted(executed(log)) != pages:
            problems.append(f"a src/ edit ran {sorted(executed(log))}, expected all of {pages}")
        if cached_gate or not gate:
            problems.append("a src/ edit did not re-run the parity gate")

        if not args.no_serve:
            seconds, log = serve_rebuild(project)
            row("serve, markdown edit", seconds, f"{len(executed(log))} notebooks run")
            if executed(log) or "executing" in log:
                problems.append("mkdocs serve re-executed notebooks for a Markdown edit")
    finally:
        if args.keep:
            print(f"project kept in {project}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    print(f"\n{'build':<22} {'seconds':>8} {'goal':>6}  verdict  notes")
    for name, seconds, note in rows:
        goal = GOALS.get(name)
        verdict = "-" if goal is None else ("ok" if seconds <= goal else "MISSED")
        goal_text = f"{goal:.0f}" if goal is not None else "-"
        print(f"{name:<22} {seconds:8.1f} {goal_text:>6}  {verdict:<7}  {note}")
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    for problem in problems:
        print(f"PROBLEM: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
