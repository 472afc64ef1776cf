"""Starts a server command, polls GET /ping on loopback until it answers 200,
prints {"startup_ms": ..., "pid": ...} and leaves the server running.
Usage: startup.py PORT LOGFILE -- CMD ARGS..."""
import http.client
import json
import subprocess
import sys
import time

port, log = int(sys.argv[1]), sys.argv[2]
cmd = sys.argv[sys.argv.index("--") + 1 :]
out = open(log, "wb")
t0 = time.perf_counter()
proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
deadline = t0 + 120
while time.perf_counter() < deadline:
    if proc.poll() is not None:
        sys.exit(f"server exited with {proc.returncode}")
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        c.request("GET", "/ping")
        if c.getresponse().status == 200:
            break
    except OSError:
        time.sleep(0.001)
else:
    proc.kill()
    sys.exit("no /ping within 120 s")
print(json.dumps({"startup_ms": (time.perf_counter() - t0) * 1000, "pid": proc.pid}))
