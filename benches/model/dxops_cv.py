"""Runs `dxops-model cv` three times on one data set with a given thread
count and prints one JSON line: the metrics (checked identical across runs),
the fastest run's CV fit wall time and the least CPU time (user + system) of
a whole run, read from the kernel's accounting of the child process.

Usage: dxops_cv.py BIN DATA.csv THREADS FOLDS_OUT [extra cv arguments]
"""
import json
import os
import resource
import subprocess
import sys

REPEATS = 3


def child_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main(binary, data, threads, folds_out, *extra):
    env = dict(os.environ, DXOPS_THREADS=threads)
    cmd = [binary, "cv", "--data", data, "--label", "label", "--folds", "5", "--seed", "42",
           "--folds-out", folds_out, *extra]
    runs, cpus = [], []
    for _ in range(REPEATS):
        before = child_cpu()
        out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
        cpus.append(child_cpu() - before)
        runs.append(json.loads(out))
    timeless = [{k: v for k, v in r.items() if k != "fit_seconds"} for r in runs]
    assert all(t == timeless[0] for t in timeless), f"{data}: cv output differs between runs"
    r = min(runs, key=lambda x: x["fit_seconds"])
    t = r["threads"]
    r.update(data=os.path.basename(data), cpu_seconds=min(cpus))
    r.setdefault("model", "dxops-model cv, defaults (%d thread%s)" % (t, "" if t == 1 else "s"))
    return r


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:])))
