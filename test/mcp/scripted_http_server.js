// A small MCP server over streamable HTTP for the gateway's MCP client tests: it answers with
// plain JSON (the everything server always streams SSE), insists on the session id and
// protocol version headers, and can stream a request to the client before its response,
// stream an endless line, hold a response forever, or forget its session. It listens on 127.0.0.1 on a free port,
// prints "listening <port>" on stdout, and logs each request it gets as one line there.
"use strict";
const http = require("http");
const crypto = require("crypto");

let session = null;
let version = null;
const pendingPings = new Map();  // id of our ping → function taking the client's answer

const json = (res, status, body, headers = {}) => {
  res.writeHead(status, { "Content-Type": "application/json", ...headers });
  res.end(JSON.stringify(body));
};
const rpcError = (res, status, id, message) =>
  json(res, status, { jsonrpc: "2.0", id, error: { code: -32000, message } });
const result = (id, r) => ({ jsonrpc: "2.0", id, result: r });
const text = (t) => ({ content: [{ type: "text", text: t }] });

function onCall(req, res, msg) {
  const name = msg.params.name;
  if (name === "echo") return json(res, 200, result(msg.id, text(String(msg.params.arguments.message))));
  if (name === "hold") return;  // never answered: the client times out or cancels
  if (name === "forget-session") {
    json(res, 200, result(msg.id, text("forgotten")));
    session = null;
    return;
  }
  if (name === "sse-ask-ping") {
    res.writeHead(200, { "Content-Type": "text/event-stream" });
    res.write(": comment lines are ignored\n\n");
    const pingId = "srv-ping-" + msg.id;
    pendingPings.set(pingId, (answer) => {
      const ok = answer.result && Object.keys(answer.result).length === 0;
      res.write(`event: message\ndata: ${JSON.stringify(result(msg.id, text(ok ? "pong" : "bad")))}\n\n`);
      res.end();
    });
    res.write(`data: ${JSON.stringify({ jsonrpc: "2.0", method: "notifications/progress", params: {} })}\n\n`);
    res.write(`data: ${JSON.stringify({ jsonrpc: "2.0", id: pingId, method: "ping" })}\n\n`);
    return;
  }
  if (name === "sse-endless-line") {  // one data line longer than the client buffers
    res.writeHead(200, { "Content-Type": "text/event-stream" });
    res.end("data: " + "x".repeat(9 << 20));
    return;
  }
  json(res, 200, result(msg.id, { content: [{ type: "text", text: "unknown " + name }], isError: true }));
}

const server = http.createServer((req, res) => {
  let body = "";
  req.on("data", (c) => (body += c));
  req.on("end", () => {
    const sid = req.headers["mcp-session-id"];
    const pv = req.headers["mcp-protocol-version"];
    const msg = body ? JSON.parse(body) : {};
    console.log(`${req.method} session=${sid || "-"} version=${pv || "-"} ${msg.method || (msg.id !== undefined ? "response" : "")}`);
    if (req.method === "DELETE") {
      if (sid && sid === session) session = null;
      res.writeHead(200);
      return res.end();
    }
    if (req.method !== "POST") { res.writeHead(405); return res.end(); }
    if (msg.method === "initialize") {
      session = crypto.randomUUID();
      version = msg.params.protocolVersion;
      return json(res, 200, result(msg.id, {
        protocolVersion: version, capabilities: { tools: {} },
        serverInfo: { name: "scripted-http", version: "1" } }), { "Mcp-Session-Id": session });
    }
    if (!sid) return rpcError(res, 400, msg.id, "Mcp-Session-Id header missing");
    if (sid !== session) return rpcError(res, 404, msg.id, "Session not found");
    if (pv !== version) return rpcError(res, 400, msg.id, `MCP-Protocol-Version is ${pv}, not ${version}`);
    if (msg.method === undefined) {  // the client's answer to our request
      const then = pendingPings.get(msg.id);
      pendingPings.delete(msg.id);
      res.writeHead(202);
      res.end();
      if (then) then(msg);
      return;
    }
    if (msg.id === undefined) { res.writeHead(202); return res.end(); }
    if (msg.method === "tools/list") {
      return json(res, 200, result(msg.id, { tools: [{ name: "echo", inputSchema: { type: "object" } }] }));
    }
    if (msg.method === "tools/call") return onCall(req, res, msg);
    return rpcError(res, 400, msg.id, "unexpected " + msg.method);
  });
});
server.listen(0, "127.0.0.1", () => console.log(`listening ${server.address().port}`));
