// The MCP Apps host page tests/test_apps_browser.py opens in Chromium: the official TypeScript client
// (@modelcontextprotocol/client) talks to a Bosun server, and ext-apps' AppBridge runs each view in a
// sandbox proxy on another origin (sandbox.html), as the specification asks of a web host.
// Bundled for the browser by esbuild (build.mjs); the page's query string says what to show:
//   ?server=<Bosun's /mcp URL>&sandbox=<sandbox.html URL>&calls=<JSON [{tool, arguments}]>
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import {
  AppBridge,
  PostMessageTransport,
  RESOURCE_MIME_TYPE,
  getToolUiResourceUri,
  isToolVisibilityModelOnly,
} from "@modelcontextprotocol/ext-apps/app-bridge";

const HOST = { name: "bosun-test-host", version: "1.0.0" };
const EXTENSION = "io.modelcontextprotocol/ui";
const query = new URLSearchParams(location.search);
const events = [];  // what happened, in order, for the driver to read (window.hostEvents)
window.hostEvents = events;

function note(panel, what, detail) {
  events.push({ panel, what, detail: detail === undefined ? null : detail });
  const line = document.createElement("div");
  line.textContent = `${panel}: ${what}${detail === undefined ? "" : " " + JSON.stringify(detail).slice(0, 200)}`;
  document.getElementById("log").append(line);
}

async function connect(url) {
  const client = new Client(HOST, {
    capabilities: { extensions: { [EXTENSION]: { mimeTypes: [RESOURCE_MIME_TYPE] } } },
    versionNegotiation: { mode: "auto" },
  });
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  return client;
}

async function view(client, uri) {
  const read = await client.readResource({ uri });
  const content = read.contents[0];
  if (read.contents.length !== 1 || content.mimeType !== RESOURCE_MIME_TYPE) {
    throw new Error(`${uri} is not one ${RESOURCE_MIME_TYPE} document`);
  }
  const ui = (content._meta && content._meta.ui) || {};
  return { html: "blob" in content ? atob(content.blob) : content.text, csp: ui.csp, permissions: ui.permissions };
}

function proxy(panel, csp) {
  const frame = document.createElement("iframe");
  frame.className = "view";
  frame.dataset.panel = panel;
  frame.setAttribute("sandbox", "allow-scripts allow-same-origin allow-forms");
  const url = new URL(query.get("sandbox"));
  if (csp) url.searchParams.set("csp", JSON.stringify(csp));
  const ready = new Promise((resolve) => {
    const listener = (event) => {
      if (event.source === frame.contentWindow && event.data && event.data.method === "ui/notifications/sandbox-proxy-ready") {
        window.removeEventListener("message", listener);
        resolve();
      }
    };
    window.addEventListener("message", listener);
  });
  frame.src = url.href;
  return { frame, ready };
}

async function show(client, tools, panel, call) {
  const section = document.createElement("section");
  section.dataset.panel = panel;
  const heading = document.createElement("h2");
  heading.textContent = `${call.tool}`;
  section.append(heading);
  document.getElementById("views").append(section);
  const tool = tools.get(call.tool);
  if (!tool) throw new Error(`the server lists no tool ${call.tool}`);
  const uri = getToolUiResourceUri(tool);
  note(panel, "links", uri);
  const result = client.callTool({ name: call.tool, arguments: call.arguments || {} });
  const document_ = await view(client, uri);
  note(panel, "csp", document_.csp || null);
  const { frame, ready } = proxy(panel, document_.csp);
  section.append(frame);
  await ready;
  const bridge = new AppBridge(client, HOST, { serverTools: {}, serverResources: {}, logging: {}, openLinks: {} },
    { hostContext: { theme: "light", displayMode: "inline", platform: "web", locale: "en-US" } });
  const initialized = new Promise((resolve) => bridge.addEventListener("initialized", resolve));
  bridge.onsizechange = ({ height }) => { if (height) frame.style.height = `${Math.min(height, 600)}px`; };
  bridge.onloggingmessage = (params) => note(panel, "log", params.data);
  bridge.onmessage = async (params) => { note(panel, "message", params); return {}; };
  bridge.onopenlink = async (params) => { note(panel, "open-link", params.url); return {}; };
  await bridge.connect(new PostMessageTransport(frame.contentWindow, frame.contentWindow));
  // The host's duty (the specification's Visibility rules): a view may call this server's tools that
  // include "app", never a model-only one. This replaces the forwarding connect() set up (the SDK warns so).
  bridge.oncalltool = async (params) => {
    const called = tools.get(params.name);
    if (!called || isToolVisibilityModelOnly(called)) {
      note(panel, "refused", params.name);
      throw new Error(`tool ${params.name} is not callable from a view`);
    }
    const answer = await client.callTool(params);
    note(panel, "view-called", { name: params.name, isError: Boolean(answer.isError) });
    return answer;
  };
  await bridge.sendSandboxResourceReady(document_);
  await initialized;
  note(panel, "initialized");
  await bridge.sendToolInput({ arguments: call.arguments || {} });
  const answer = await result;
  await bridge.sendToolResult(answer);
  note(panel, "result", answer.structuredContent || null);
  section.dataset.state = "ready";
}

async function main() {
  const client = await connect(query.get("server"));
  note("host", "connected", { version: client.getNegotiatedProtocolVersion ? client.getNegotiatedProtocolVersion() : null,
                              extensions: Object.keys((client.getServerCapabilities() || {}).extensions || {}) });
  const tools = new Map((await client.listTools()).tools.map((tool) => [tool.name, tool]));
  note("host", "tools", [...tools.keys()]);
  const calls = JSON.parse(query.get("calls") || "[]");
  for (const [index, call] of calls.entries()) {
    await show(client, tools, `p${index}`, call);
  }
  document.body.dataset.state = "ready";
}

main().catch((failure) => {
  note("host", "failed", String(failure && failure.stack || failure));
  document.body.dataset.state = "failed";
});
