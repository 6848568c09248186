// Alcor's web view: the topology from the Neutron API, kept live by the server's event
// stream, the agents, a port's provisioning trace and the reachability analyzer.
// Plain JS, no build step; every call carries the same headers (an optional token).
"use strict";

const state = { networks: [], subnets: [], routers: [], ports: [], agents: [] };
const SVG = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);

function headers() {
  const token = sessionStorage.getItem("alcor-token");
  return token ? { "X-Auth-Token": token } : {};
}

async function api(path) {
  const resp = await fetch(path, { headers: headers() });
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    const err = body.NeutronError || {};
    throw new Error(`${resp.status} ${err.message || resp.statusText}`);
  }
  return body;
}

function el(tag, attrs = {}, text = "") {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text) node.textContent = text;
  return node;
}

function svg(tag, attrs = {}, text = "") {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text) node.textContent = text;
  return node;
}

function statusClass(status) {
  return ["ACTIVE", "DOWN", "ERROR"].includes(status) ? status : "BUILD";
}

function logEvent(text) {
  const item = el("li", {}, `${new Date().toLocaleTimeString()} ${text}`);
  $("events").prepend(item);
  while ($("events").children.length > 100) $("events").lastChild.remove();
}

// -- loading ------------------------------------------------------------------------------
async function load() {
  const [n, s, r, p, a] = await Promise.all(
    ["networks", "subnets", "routers", "ports", "agents"].map((c) => api(`/v2.0/${c}`))
  );
  Object.assign(state, {
    networks: n.networks, subnets: s.subnets, routers: r.routers, ports: p.ports,
    agents: a.agents,
  });
  render();
}

let reloading = null;
function reloadSoon() {
  clearTimeout(reloading);
  reloading = setTimeout(() => load().catch((e) => logEvent(`reload failed: ${e.message}`)), 200);
}

// -- the map ------------------------------------------------------------------------------
const LABEL_W = 230, ROUTER_W = 90, LANE_H = 64, TOP = 70, CELL_PORT = 22;

function portLabel(port) {
  const ip = (port.fixed_ips[0] || {}).ip_address || "";
  return `${port.name || port.id.slice(0, 8)} ${ip}`.trim();
}

function render() {
  const map = $("topology");
  map.replaceChildren();
  const routerPorts = state.ports.filter((p) => p.device_owner === "network:router_interface");
  const vmPorts = state.ports.filter((p) => !p.device_owner.startsWith("network:"));
  const alive = Object.fromEntries(state.agents.map((a) => [a.host, a.alive]));
  const hosts = [...new Set([...state.agents.map((a) => a.host),
    ...vmPorts.map((p) => p["binding:host_id"] || "(unbound)")])].sort();
  const nets = [...state.networks].sort((a, b) => a.name.localeCompare(b.name));
  const cell = {};
  for (const port of vmPorts) {
    const key = `${port.network_id}|${port["binding:host_id"] || "(unbound)"}`;
    (cell[key] = cell[key] || []).push(port);
  }
  const widest = {};
  for (const [key, ports] of Object.entries(cell)) {
    const host = key.split("|")[1];
    widest[host] = Math.max(widest[host] || 0, ports.length);
  }
  const hostX = {};
  let x = LABEL_W + ROUTER_W * state.routers.length + 10;
  for (const host of hosts) {
    const width = Math.max(130, (widest[host] || 1) * CELL_PORT + 30);
    hostX[host] = [x, width];
    x += width + 8;
  }
  const height = TOP + nets.length * LANE_H + 20;
  map.setAttribute("width", Math.max(x, 600));
  map.setAttribute("height", height);

  for (const host of hosts) {
    const [hx, width] = hostX[host];
    const dead = host in alive && !alive[host];
    map.append(svg("rect", { x: hx, y: 4, width, height: height - 8, rx: 6,
      class: dead ? "host dead" : "host", "data-host": host }));
    map.append(svg("text", { x: hx + 6, y: 20 }, `${host}${dead ? " (dead)" : ""}`));
  }
  const laneY = {};
  nets.forEach((net, i) => {
    const y = TOP + i * LANE_H;
    laneY[net.id] = y;
    const cidrs = state.subnets.filter((s) => s.network_id === net.id).map((s) => s.cidr);
    map.append(svg("line", { x1: 8, x2: x, y1: y, y2: y, class: "lane" }));
    map.append(svg("text", { x: 8, y: y - 8, "data-network": net.id },
      `${net.name || net.id.slice(0, 8)}${net["router:external"] ? " (external)" : ""}`));
    map.append(svg("text", { x: 8, y: y + 16 }, cidrs.join(", ")));
  });
  state.routers.forEach((router, i) => {
    const rx = LABEL_W + i * ROUTER_W;
    const joined = routerPorts.filter((p) => p.device_id === router.id).map((p) => p.network_id);
    const gateway = (router.external_gateway_info || {}).network_id;
    if (gateway) joined.push(gateway);
    for (const id of joined) {
      if (id in laneY) {
        map.append(svg("line", { x1: rx + 35, x2: rx + 35, y1: 44, y2: laneY[id], class: "wire" }));
      }
    }
    map.append(svg("rect", { x: rx, y: 28, width: 70, height: 18, rx: 4, class: "router",
      "data-router": router.id }));
    map.append(svg("text", { x: rx + 4, y: 41 }, (router.name || router.id).slice(0, 11)));
  });
  for (const [key, ports] of Object.entries(cell)) {
    const [networkId, host] = key.split("|");
    if (!(networkId in laneY) || !(host in hostX)) continue;
    ports.forEach((port, i) => {
      const circle = svg("circle", {
        cx: hostX[host][0] + 18 + i * CELL_PORT, cy: laneY[networkId], r: 8,
        class: `port ${statusClass(port.status)}`,
        "data-port-id": port.id, "data-status": port.status,
      });
      circle.append(svg("title", {}, `${portLabel(port)}\n${port.status} on ${host}\n${port.id}`));
      circle.addEventListener("click", () => showTrace(port.id));
      map.append(circle);
    });
  }
  $("counts").textContent = `${nets.length} networks, ${state.routers.length} routers, ` +
    `${vmPorts.length} ports, ${hosts.length} hosts`;
  renderAgents();
  renderChoices();
}

function renderAgents() {
  $("agents").replaceChildren(...state.agents.map((a) =>
    el("li", { class: a.alive ? "alive" : "dead", "data-host": a.host },
      `${a.host} ${a.alive ? "alive" : "dead"} (heartbeat ${a.heartbeat_timestamp || "never"})`)));
}

function renderChoices() {
  const ports = state.ports.filter((p) => !p.device_owner.startsWith("network:"));
  for (const id of ["why-source", "why-destination"]) {
    const select = $(id);
    const kept = select.value;
    const options = ports.map((p) => el("option", { value: p.id }, portLabel(p)));
    if (id === "why-destination") options.unshift(el("option", { value: "" }, "(the address)"));
    select.replaceChildren(...options);
    if ([...select.options].some((o) => o.value === kept)) select.value = kept;
  }
}

function updatePort(id, status) {
  const port = state.ports.find((p) => p.id === id);
  if (port) port.status = status;
  const circle = document.querySelector(`circle[data-port-id="${id}"]`);
  if (circle) {
    circle.setAttribute("data-status", status);
    circle.setAttribute("class", `port ${statusClass(status)}`);
  }
}

// -- a port's trace -----------------------------------------------------------------------
async function showTrace(portId) {
  const box = $("trace");
  try {
    const t = (await api(`/v2.0/ports/${portId}/trace`)).trace;
    const rows = t.steps.map((s) => {
      const tr = el("tr");
      tr.append(el("td", {}, s.step), el("td", {}, s.step_ms == null ? "" : s.step_ms.toFixed(1)),
        el("td", {}, s.since_start_ms == null ? "" : s.since_start_ms.toFixed(1)), el("td", {}, s.what));
      return tr;
    });
    const table = el("table");
    const head = el("tr");
    head.append(...["step", "+ms", "total ms", "what"].map((h) => el("th", {}, h)));
    table.append(head, ...rows);
    box.replaceChildren(el("div", {}, `${t.name || t.port_id}: ${t.status} on ${t.host_id || "no host"}`),
      table);
    return t;
  } catch (e) {
    box.replaceChildren(el("div", { class: "error" }, e.message));
    return null;
  }
}

// -- the analyzer -------------------------------------------------------------------------
async function ask(event) {
  event.preventDefault();
  const protocol = $("why-protocol").value;
  const query = new URLSearchParams({
    source: $("why-source").value,
    destination: $("why-destination").value || $("why-address").value,
    protocol,
  });
  if (protocol !== "icmp") query.set("port", $("why-port").value);
  const out = $("why-result");
  out.removeAttribute("data-reachable");
  try {
    const r = (await api(`/v2.0/alcor/reachability?${query}`)).reachability;
    const verdict = r.reachable === true ? "yes" : r.reachable === false ? "no" : "unknown";
    const table = el("table");
    for (const hop of r.path) {
      const tr = el("tr");
      tr.append(el("td", {}, hop.hop), el("td", { class: hop.verdict }, hop.verdict),
        el("td", {}, `${hop.at}: ${hop.detail}`));
      table.append(tr);
    }
    out.replaceChildren(el("div", { class: `verdict ${verdict}` }, r.summary), table);
    out.setAttribute("data-reachable", verdict);
  } catch (e) {
    out.replaceChildren(el("div", { class: "error" }, e.message));
    out.setAttribute("data-reachable", "error");
  }
}

// -- live events (server-sent events read with fetch, so they carry our headers) ----------
async function follow() {
  for (;;) {
    try {
      const resp = await fetch("/v2.0/alcor/events", { headers: headers() });
      if (!resp.ok) throw new Error(`${resp.status}`);
      $("live").textContent = "live";
      $("live").className = "badge on";
      const reader = resp.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          onFrame(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
        }
      }
    } catch (e) {
      logEvent(`event stream: ${e.message}`);
    }
    $("live").textContent = "offline";
    $("live").className = "badge off";
    await new Promise((r) => setTimeout(r, 1000));
    reloadSoon();
  }
}

function onFrame(frame) {
  let name = "message", data = "";
  for (const line of frame.split("\n")) {
    if (line.startsWith("event: ")) name = line.slice(7);
    else if (line.startsWith("data: ")) data += line.slice(6);
  }
  if (!data) return;
  const payload = JSON.parse(data);
  if (name === "port") {
    updatePort(payload.port_id, payload.new);
    logEvent(`port ${payload.port_id.slice(0, 8)} ${payload.old} -> ${payload.new}`);
    if (payload.new === "ACTIVE") provisioned(payload.port_id);
  } else if (name === "change") {
    logEvent(`${payload.op} ${payload.resource} ${payload.resource_id.slice(0, 8)}`);
    reloadSoon();
  } else if (name === "overflow") {
    reloadSoon();
  }
}

async function provisioned(portId) {
  try {
    const t = (await api(`/v2.0/ports/${portId}/trace`)).trace;
    const active = t.steps.find((s) => s.step === "active");
    if (active && active.since_start_ms != null) {
      logEvent(`port ${portId.slice(0, 8)} ACTIVE ${active.since_start_ms.toFixed(1)} ms ` +
        "after its API request");
    }
  } catch (e) {
    // a member (not admin) sees no trace: the status change was logged already
  }
}

// -- start --------------------------------------------------------------------------------
$("token").value = sessionStorage.getItem("alcor-token") || "";
$("token").addEventListener("change", (e) => {
  sessionStorage.setItem("alcor-token", e.target.value);
  reloadSoon();
});
$("why-form").addEventListener("submit", ask);
load().catch((e) => logEvent(`load failed: ${e.message}`));
setInterval(() => api("/v2.0/agents").then((a) => {
  state.agents = a.agents;
  renderAgents();
}).catch(() => {}), 5000);
follow();
