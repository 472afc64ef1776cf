"""A SageMaker Runtime stand-in for the gateway benchmark: POST
/endpoints/NAME/invocations is forwarded to the model server's /invocations
over a kept-alive connection per thread, and its answer returned as
InvokeEndpoint returns it. Both gateways call this same process.

Usage: sagemaker_runtime.py PORT MODEL_PORT"""
import http.client
import http.server
import sys
import threading

port, model_port = int(sys.argv[1]), int(sys.argv[2])
local = threading.local()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not (self.path.startswith("/endpoints/") and self.path.endswith("/invocations")):
            self.send_error(404)
            return
        if not hasattr(local, "conn"):
            local.conn = http.client.HTTPConnection("127.0.0.1", model_port)
        local.conn.request("POST", "/invocations", body, {
            "Content-Type": self.headers.get("Content-Type", "text/csv"),
            "Accept": self.headers.get("Accept", "application/json")})
        r = local.conn.getresponse()
        payload = r.read()
        self.send_response(200 if r.status < 300 else 424)
        self.send_header("Content-Type", r.getheader("Content-Type", "application/json"))
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-Amzn-Invoked-Production-Variant", "AllTraffic")
        self.end_headers()
        self.wfile.write(payload)


server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
server.daemon_threads = True
print("ready", flush=True)
server.serve_forever()
