"""Lambda-mode start and latency on one machine, through a local Lambda
Runtime API (version 2018-06-01, as the Lambda developer guide documents it):
each cold start is a fresh process, timed from its start to the answer of
its first event; warm latency is the time from an event's hand-out (the
function's GET /next) to its answer, for invocations one after another, as
one Lambda environment receives them.

Usage: lambda_bench.py COLD_RUNS INVOCATIONS BODYFILE LOGFILE -- CMD ARGS...
Prints one JSON object."""
import http
import http.server
import json
import os
import queue
import statistics
import subprocess
import sys
import threading
import time

cold_runs, invocations = int(sys.argv[1]), int(sys.argv[2])
body = open(sys.argv[3]).read()
log = open(sys.argv[4], "ab")
cmd = sys.argv[sys.argv.index("--") + 1 :]
# BENCH_CONTENT_TYPE: the body's type (the gateway bench sends JSON).
event = json.dumps({
    "httpMethod": "POST", "path": "/invocations", "isBase64Encoded": False,
    "headers": {"Content-Type": os.environ.get("BENCH_CONTENT_TYPE", "text/csv"), "Accept": "application/json"},
    "requestContext": {"requestId": "bench-request"},
    "body": body,
}).encode()

class Api:
    """One Runtime API per function process, so that a killed process's
    pending poll cannot take the next process's event."""

    def __init__(self):
        self.events, self.answers, self.last_hand_out = queue.Queue(), queue.Queue(), 0.0
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            # One write per response and no Nagle delay: otherwise a client
            # that waits for the body meets delayed ACKs (tens of ms).
            disable_nagle_algorithm = True

            def reply(self, status, payload=b"{}", headers=()):
                head = f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}\r\nContent-Length: {len(payload)}\r\n"
                head += "".join(f"{k}: {v}\r\n" for k, v in headers)
                self.wfile.write(head.encode() + b"\r\n" + payload)
                self.wfile.flush()

            def do_GET(self):
                if not self.path.endswith("/runtime/invocation/next"):
                    return self.reply(404)
                request_id = api.events.get()
                api.last_hand_out = time.perf_counter()
                deadline = str(int(time.time() * 1000) + 30_000)
                self.reply(200, event, [
                    ("Content-Type", "application/json"),
                    ("Lambda-Runtime-Aws-Request-Id", request_id),
                    ("Lambda-Runtime-Deadline-Ms", deadline),
                    ("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:eu-west-1:123456789012:function:bench"),
                    ("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000"),
                ])

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                payload = self.rfile.read(n)
                at = time.perf_counter()
                self.reply(202)
                api.answers.put((self.path, payload, at))

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        # A killed function leaves its connection behind: not worth a trace.
        self.server.handle_error = lambda *args: None
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def start(self):
        env = dict(os.environ,
                   AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{self.server.server_address[1]}",
                   AWS_LAMBDA_FUNCTION_NAME="bench", AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
                   AWS_LAMBDA_FUNCTION_MEMORY_SIZE="1024")
        return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def invoke(self, request_id):
        """Queues one event; the time its answer arrived."""
        self.events.put(request_id)
        path, payload, at = self.answers.get(timeout=120)
        if not path.endswith(f"/invocation/{request_id}/response"):
            sys.exit(f"{request_id}: {path} {payload[:200]!r}")
        status = json.loads(payload).get("statusCode")
        if status != 200:
            sys.exit(f"{request_id}: status {status}: {payload[:200]!r}")
        return at


def stop(proc):
    """Kills the process; its CPU time (user + system) in ms."""
    proc.kill()
    _, _, usage = os.wait4(proc.pid, 0)
    return (usage.ru_utime + usage.ru_stime) * 1000


cold, cold_cpu = [], []
for i in range(cold_runs):
    api = Api()
    t0 = time.perf_counter()
    proc = api.start()
    cold.append((api.invoke(f"cold-{i}") - t0) * 1000)
    cold_cpu.append(stop(proc))
    api.server.shutdown()

api = Api()
proc = api.start()
warm = []
for i in range(invocations + 50):
    at = api.invoke(f"warm-{i}")
    if i >= 50:  # the first ones warm caches
        warm.append((at - api.last_hand_out) * 1000)
stop(proc)
warm.sort()
q = lambda p: warm[min(len(warm) - 1, int(p * len(warm)))]
print(json.dumps({
    "cold_start_ms": {"median": statistics.median(cold), "min": min(cold), "max": max(cold), "runs": cold_runs},
    "cold_start_cpu_ms": {"median": statistics.median(cold_cpu)},
    "warm_ms": {"p50": q(0.5), "p99": q(0.99), "mean": statistics.fmean(warm), "invocations": len(warm)},
}))
