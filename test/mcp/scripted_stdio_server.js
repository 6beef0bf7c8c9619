// A small MCP server on stdio whose behaviour the gateway's MCP client tests choose through
// the tool called. It appends every line it receives to the file named by argv[2] (when given)
// so tests can check what the client sent. MCP_VERSION overrides the protocol version it
// answers initialize with.
"use strict";
const fs = require("fs");
const readline = require("readline");

const logFile = process.argv[2];
const send = (msg) => process.stdout.write(JSON.stringify({ jsonrpc: "2.0", ...msg }) + "\n");
const text = (t) => ({ content: [{ type: "text", text: t }] });

// Requests this server sent to the client, by id: what to do with the answer.
const awaiting = new Map();
function ask(id, method, then) {
  awaiting.set(id, then);
  send({ id, method, params: {} });
}

const pages = {
  "": { tools: [{ name: "first", description: "page one", inputSchema: { type: "object" } }],
        nextCursor: "page-2" },
  "page-2": { tools: [{ name: "second", inputSchema: { type: "object", properties: {} } }] },
};

function onCall(id, name, args) {
  switch (name) {
    case "echo":
      // A notification first: the client must skip it.
      send({ method: "notifications/message", params: { level: "info", data: "echoing" } });
      return send({ id, result: text(String(args.message)) });
    case "mixed":
      return send({ id, result: { content: [
        { type: "text", text: "before" },
        { type: "image", data: "AAAA", mimeType: "image/png" },
        { type: "resource", resource: { uri: "file:///x.txt", text: "x" } },
        { type: "text", text: "after" },
      ], isError: true } });
    case "structured":
      return send({ id, result: { content: [{ type: "text", text: "{\"n\":1}" }],
                                  structuredContent: { n: 1, list: [1, 2] } } });
    case "fail":
      return send({ id, error: { code: -32602, message: "no such thing" } });
    case "ask-client":
      // The client must answer ping with an empty result and refuse what it does not offer.
      return ask("srv-ping", "ping", (pong) =>
        ask("srv-sample", "sampling/createMessage", (refusal) => {
          const ok = pong.result && Object.keys(pong.result).length === 0 && !pong.error;
          const code = refusal.error ? refusal.error.code : "none";
          send({ id, result: text(`ping ${ok ? "answered" : "wrong"}; sampling ${code}`) });
        }));
    case "never":
      return;  // the client times out or cancels
    case "exit":
      return process.exit(3);
    default:
      return send({ id, result: { content: [{ type: "text", text: `unknown tool ${name}` }],
                                  isError: true } });
  }
}

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  if (logFile) fs.appendFileSync(logFile, line + "\n");
  const msg = JSON.parse(line);
  if (msg.method === undefined) {
    const then = awaiting.get(msg.id);
    awaiting.delete(msg.id);
    if (then) then(msg);
    return;
  }
  if (msg.id === undefined) return;  // a notification
  switch (msg.method) {
    case "initialize":
      return send({ id: msg.id, result: {
        protocolVersion: process.env.MCP_VERSION || msg.params.protocolVersion,
        capabilities: { tools: {} }, serverInfo: { name: "scripted", version: "1" } } });
    case "tools/list": {
      const page = pages[(msg.params && msg.params.cursor) || ""];
      if (!page) return send({ id: msg.id, error: { code: -32602, message: "bad cursor" } });
      return send({ id: msg.id, result: page });
    }
    case "tools/call":
      return onCall(msg.id, msg.params.name, msg.params.arguments || {});
    default:
      return send({ id: msg.id, error: { code: -32601, message: "no " + msg.method } });
  }
});
