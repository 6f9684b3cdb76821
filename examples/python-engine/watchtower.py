#!/usr/bin/env python3
"""A deliberately small EthFlow watch-tower, to show cowload driving an engine that is
not shepherd-shaped: it reads a JSON config, serves Prometheus metrics on a host and a
port given separately, keeps its cursor in its working directory, reports "synced" on a
health URL and in its log, and indexes EthFlow only (standard library only, no deps).

Per poll it reads `OrderPlacement` logs of the EthFlow contract from its cursor to the
head with eth_getLogs, turns each into the order the event announces and posts it to the
orderbook. It does not retry: a rejected order is counted and dropped.
"""
import argparse
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# bytes32 markers of GPv2Order (keccak of the names), as the settlement contract defines them.
KINDS = {
    "f3b277728b3fee749481eb3e0b3b48980dbbab78658fc419025cb16eee346775": "sell",
    "6ed88e868af0a1983e3886d5f3e95a2fafbd6c3450bc229e27342283dc429ccc": "buy",
}
BALANCES = {
    "5a28e9363bb942b639270062aa6bb295f434bcdfc42c97267bf003f272060dc9": "erc20",
    "abee3b73373acd583a130924aad6dc38cfdc44ba0555ba94ce2ff63980ea0632": "external",
    "4ac99ace14ee0a5ef932dc609df0943ab7ac16b7583634612f8dc35a4289a6ce": "internal",
}
# The event's OnchainSigningScheme enum (not GPv2's off-chain numbering).
SCHEMES = {0: "eip1271", 1: "presign"}


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.height = 0
        self.synced = False
        self.posted = 0
        self.rejected = {}

    def metrics(self):
        with self.lock:
            lines = [
                "# TYPE watchtower_block_height gauge",
                f"watchtower_block_height {self.height}",
                "# TYPE watchtower_orders_posted_total counter",
                f"watchtower_orders_posted_total {self.posted}",
                "# TYPE watchtower_orders_rejected_total counter",
            ]
            lines += [
                f'watchtower_orders_rejected_total{{reason="{r}"}} {n}'
                for r, n in sorted(self.rejected.items())
            ]
        return "\n".join(lines) + "\n"


def serve(state, host, port):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/metrics":
                self.answer(200, state.metrics(), "text/plain; version=0.0.4")
            elif self.path == "/health":
                synced = state.synced
                self.answer(200 if synced else 503, "synced\n" if synced else "syncing\n")
            else:
                self.answer(404, "not found\n")

        def answer(self, status, body, kind="text/plain"):
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()


def rpc(url, method, params):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        answer = json.load(response)
    if "error" in answer:
        raise RuntimeError(f"{method}: {answer['error']}")
    return answer["result"]


def words(data_hex):
    data = bytes.fromhex(data_hex[2:])
    return data, [data[i : i + 32] for i in range(0, len(data), 32)]


def order_from_log(log, owner):
    """OrderPlacement(address indexed sender, GPv2Order.Data order, (uint8,bytes) signature, bytes data)."""
    data, w = words(log["data"])
    address = lambda word: "0x" + word[12:].hex()
    number = lambda word: int.from_bytes(word, "big")
    signature_at = number(w[12])
    scheme = number(data[signature_at : signature_at + 32])
    bytes_at = signature_at + number(data[signature_at + 32 : signature_at + 64])
    length = number(data[bytes_at : bytes_at + 32])
    signature = data[bytes_at + 32 : bytes_at + 32 + length]
    return {
        "sellToken": address(w[0]),
        "buyToken": address(w[1]),
        "receiver": address(w[2]),
        "sellAmount": str(number(w[3])),
        "buyAmount": str(number(w[4])),
        "validTo": number(w[5]),
        "appData": "0x" + w[6].hex(),
        "feeAmount": str(number(w[7])),
        "kind": KINDS[w[8].hex()],
        "partiallyFillable": number(w[9]) != 0,
        "sellTokenBalance": BALANCES[w[10].hex()],
        "buyTokenBalance": BALANCES[w[11].hex()],
        "signingScheme": SCHEMES[scheme],
        "signature": "0x" + signature.hex(),
        "from": owner,
    }


def post(orderbook, order):
    request = urllib.request.Request(
        orderbook.rstrip("/") + "/api/v1/orders",
        json.dumps(order).encode(),
        {"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10):
            return None
    except urllib.error.HTTPError as error:
        try:
            return json.load(error).get("errorType", str(error.code))
        except ValueError:
            return str(error.code)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True)
    config = json.load(open(parser.parse_args().config))
    state = State()
    serve(state, config["metrics"]["host"], int(config["metrics"]["port"]))
    print(f"watchtower for {config['network']}: indexing EthFlow from block {config['start_block']}", flush=True)
    # The cursor lives in the working directory; a restart resumes from it.
    try:
        cursor = int(open("cursor").read())
    except (OSError, ValueError):
        cursor = int(config["start_block"])
    ethflow = config["ethflow"].lower()
    while True:
        head = int(rpc(config["rpc"], "eth_blockNumber", []), 16)
        if head >= cursor:
            logs = rpc(
                config["rpc"],
                "eth_getLogs",
                [{"address": ethflow, "fromBlock": hex(cursor), "toBlock": hex(head)}],
            )
            for log in logs:
                rejected = post(config["orderbook"], order_from_log(log, ethflow))
                with state.lock:
                    if rejected is None:
                        state.posted += 1
                    else:
                        state.rejected[rejected] = state.rejected.get(rejected, 0) + 1
            cursor = head + 1
            # Write then rename: a stop between the two never leaves an empty cursor.
            with open("cursor.tmp", "w") as file:
                file.write(str(cursor))
            os.replace("cursor.tmp", "cursor")
        with state.lock:
            state.height = head
            if not state.synced:
                state.synced = True
                print(f"synced to block {head}", flush=True)
        time.sleep(float(config.get("poll_seconds", 0.2)))


if __name__ == "__main__":
    sys.exit(main())
