"""A crafted-metrics engine for the verdict tests: it posts no orders and
serves scripted /metrics computed from the chain head at each scrape.

Usage: crafted_engine.py HOST:PORT RPC_HTTP_URL WARMUP_BLOCKS

The head when it starts is the block before warm-up (the runner starts the
engine after chain setup and before the first mined block), so block
`base + n` is the n-th mined block. Standard library only; it talks to
127.0.0.1 alone and exits when the runner stops it.
"""

import http.server
import json
import sys
import urllib.request

NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def head(rpc_url):
    body = json.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}
    ).encode()
    request = urllib.request.Request(
        rpc_url, data=body, headers={"content-type": "application/json"}
    )
    with NO_PROXY.open(request, timeout=5) as response:
        return int(json.load(response)["result"], 16)


def metrics(base, mined, warmup):
    """The scrape after `mined` blocks past block `base`."""
    warm = min(mined, warmup - 1)  # observations stop before the last warm-up block
    fast = 5 * warm
    slow = 10 * mined
    lines = [
        # Observed during warm-up only: 5 fast observations per early warm-up block.
        "# TYPE crafted_block_duration_seconds histogram",
        f'crafted_block_duration_seconds_bucket{{le="0.005"}} {fast}',
        f'crafted_block_duration_seconds_bucket{{le="1"}} {fast}',
        f'crafted_block_duration_seconds_bucket{{le="+Inf"}} {fast}',
        f"crafted_block_duration_seconds_sum {fast * 0.004}",
        f"crafted_block_duration_seconds_count {fast}",
        # Every observation beyond the top finite bound (10 s).
        "# TYPE crafted_slow_seconds histogram",
        f'crafted_slow_seconds_bucket{{le="1"}} 0',
        f'crafted_slow_seconds_bucket{{le="10"}} 0',
        f'crafted_slow_seconds_bucket{{le="+Inf"}} {slow}',
        f"crafted_slow_seconds_sum {slow * 30}",
        f"crafted_slow_seconds_count {slow}",
        # A labelled error counter before its first increment: declared, no samples.
        "# HELP crafted_errors_total errors by kind",
        "# TYPE crafted_errors_total counter",
        # A gauge whose name ends in _total.
        "# TYPE crafted_queue_total gauge",
        f"crafted_queue_total {5 if mined % 2 == 0 else 3}",
        # The engine stops following the chain after warm-up.
        "# TYPE crafted_block_height gauge",
        f"crafted_block_height {base + min(mined, warmup)}",
    ]
    return "\n".join(lines) + "\n"


def main():
    address, rpc_url, warmup = sys.argv[1], sys.argv[2], int(sys.argv[3])
    host, port = address.rsplit(":", 1)
    base = head(rpc_url)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path != "/metrics":
                self.send_error(404)
                return
            body = metrics(base, head(rpc_url) - base, warmup).encode()
            self.send_response(200)
            self.send_header("content-type", "text/plain; version=0.0.4")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    http.server.HTTPServer((host, int(port)), Handler).serve_forever()


if __name__ == "__main__":
    main()
