// A crafted engine for the reorg test: it posts no orders; it subscribes to
// `newHeads` and to every log through the runner's RPC proxy and writes each
// notification, in the order received, as one JSON line to
// notifications.jsonl in its working directory. It serves a one-line /metrics.
//
// Usage: node --experimental-websocket log_subscriber.mjs HOST:PORT RPC_WS_URL
// Node's built-in WebSocket and http only; talks to 127.0.0.1 alone.
import { appendFileSync } from "node:fs";
import { createServer } from "node:http";

const [addr, wsUrl] = process.argv.slice(2);
const [host, port] = addr.split(":");
let seen = 0;

createServer((_, res) => {
  res.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
  res.end(`# TYPE logsub_notifications_total counter\nlogsub_notifications_total ${seen}\n`);
}).listen(Number(port), host);

const ws = new WebSocket(wsUrl);
const kinds = new Map();
ws.onopen = () => {
  ws.send(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_subscribe", params: ["newHeads"] }));
  ws.send(JSON.stringify({ jsonrpc: "2.0", id: 2, method: "eth_subscribe", params: ["logs", {}] }));
};
ws.onmessage = (event) => {
  const message = JSON.parse(event.data);
  if (message.id === 1 || message.id === 2) {
    kinds.set(message.result, message.id === 1 ? "head" : "log");
    return;
  }
  const result = message.params?.result;
  const kind = kinds.get(message.params?.subscription);
  if (!result || !kind) return;
  seen += 1;
  const line =
    kind === "head"
      ? { kind, block: parseInt(result.number, 16), hash: result.hash }
      : { kind, block: parseInt(result.blockNumber, 16), tx: result.transactionHash, removed: result.removed === true };
  appendFileSync("notifications.jsonl", JSON.stringify(line) + "\n");
};
ws.onclose = () => process.exit(0);
