// steerflow's live web view: the topology from GET /v2.0/steerflow/topology drawn with Cytoscape.js,
// refreshed by the live feed (server-sent events, GET /v2.0/steerflow/live) every second.
import cytoscape from "cytoscape";
import dagre from "cytoscape-dagre";
import { chainElements, layoutPositions } from "./picture.js";
import { formatRate, sparkline } from "./format.js";

cytoscape.use(dagre);

const started = performance.now();
const API = new URL("..", window.location.href).pathname.replace(/\/$/, "");
const TOKEN_KEY = "steerflow-token";
const DRAWN_MAX = 40; // chains drawn at once: more stays usable through the search
const LISTED_MAX = 200; // rows in the list at once
const HISTORY = 60; // sparkline points (seconds)
const PALETTE = ["#0b57d0", "#b3261e", "#146c2e", "#8e24aa", "#e65100", "#00695c", "#5d4037", "#c2185b",
  "#283593", "#827717"];

const HINT = "Select a chain in the list to see its classifiers, hops, instances and a traced packet.";

const $ = (id) => document.getElementById(id);
const view = {
  topology: null, live: null, selected: null, history: new Map(), cy: null, index: null,
  timings: { firstRender: null, lastFilter: null, lastTick: null, events: 0, topologies: 0, lastTopology: null },
  trace: null, traceSignature: "", traceNote: "",
};
window.steerflowView = view; // for the browser tests and the curious

function token() { return sessionStorage.getItem(TOKEN_KEY); }

async function api(path) {
  const headers = { Accept: "application/json" };
  if (token()) headers["X-Auth-Token"] = token();
  const response = await fetch(API + path, { headers });
  if (response.status === 401) { askToken(); throw new Error("a token is needed"); }
  const body = await response.json();
  if (!response.ok) throw new Error(body?.NeutronError?.message || response.statusText);
  return body;
}

function askToken() {
  const dialog = $("token-dialog");
  if (!dialog.open) dialog.showModal();
  setStatus("This API needs a token.");
}

function setStatus(text) { $("status").textContent = text; }

// ---- the model: indexes over the topology ------------------------------------------------------

function byName(a, b) {
  return (a.name || "").localeCompare(b.name || "", undefined, { numeric: true }) || a.id.localeCompare(b.id);
}

function indexTopology(t) {
  t.port_chains.sort(byName);
  const byId = (list) => new Map(list.map((o) => [o.id, o]));
  const index = {
    ports: byId(t.ports), pairs: byId(t.port_pairs), groups: byId(t.port_pair_groups),
    classifiers: byId(t.flow_classifiers), chains: byId(t.port_chains),
    chassis: new Map(t.chassis.map((c) => [c.name, c])), colour: new Map(), text: new Map(),
    groupOfPair: new Map(), graphs: t.service_graphs,
  };
  t.port_pair_groups.forEach((g) => g.port_pairs.forEach((p) => index.groupOfPair.set(p, g.id)));
  t.port_chains.forEach((c, i) => {
    index.colour.set(c.id, PALETTE[i % PALETTE.length]);
    const words = [c.name, c.id, ...c.port_pair_groups.flatMap((g) => {
      const group = index.groups.get(g);
      return group ? [group.name, ...group.port_pairs.map((p) => index.pairs.get(p)?.name || "")] : [];
    }), ...c.flow_classifiers.map((f) => index.classifiers.get(f)?.name || "")];
    index.text.set(c.id, words.join(" ").toLowerCase());
  });
  return index;
}

function chainTrouble(chain) {
  return chain.port_pair_groups.some((g) => {
    const group = view.index.groups.get(g);
    return group && (group.bypassed || group.dropping || group.port_pairs.some((p) => !healthy(p)));
  });
}

function healthy(pairId) {
  const live = view.live?.health?.[pairId];
  return live === undefined ? view.index.pairs.get(pairId)?.healthy !== false : live;
}

function chainRate(chainId) {
  const chain = view.index.chains.get(chainId);
  const rates = view.live?.rates?.classifiers || {};
  return chain.flow_classifiers.reduce((sum, f) => {
    const r = rates[f] || [0, 0];
    return [sum[0] + r[0], sum[1] + r[1]];
  }, [0, 0]);
}

function chainPackets(chainId) {
  const chain = view.index.chains.get(chainId);
  const totals = view.live?.totals?.classifiers || {};
  return chain.flow_classifiers.reduce((sum, f) => sum + (totals[f]?.[0] || 0), 0);
}

function filtered() {
  const words = $("search").value.trim().toLowerCase().split(/\s+/).filter(Boolean);
  const mode = $("filter").value;
  return view.topology.port_chains.filter((c) => {
    const text = view.index.text.get(c.id);
    if (!words.every((w) => text.includes(w))) return false;
    if (mode === "busy") return chainRate(c.id)[0] > 0;
    if (mode === "trouble") return chainTrouble(c);
    return true;
  });
}

// ---- the list ----------------------------------------------------------------------------------

function renderList(chains) {
  const list = $("chain-list");
  list.replaceChildren(...chains.slice(0, LISTED_MAX).map((c) => {
    const li = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.chainId = c.id;
    button.setAttribute("aria-pressed", String(view.selected === c.id));
    button.innerHTML = `<span class="swatch" aria-hidden="true"></span><span class="name"></span>`
      + `<span class="rate"></span><svg class="spark" aria-hidden="true" viewBox="0 0 ${HISTORY} 18"`
      + ` preserveAspectRatio="none"><polyline fill="none" stroke-width="1.5"/></svg>`;
    button.querySelector(".swatch").style.background = view.index.colour.get(c.id);
    button.querySelector(".name").textContent = c.name || c.id.slice(0, 8);
    button.querySelector("polyline").setAttribute("stroke", view.index.colour.get(c.id));
    button.addEventListener("click", () => select(c.id));
    li.append(button);
    return li;
  }));
  const more = chains.length > LISTED_MAX ? ` (the first ${LISTED_MAX} listed: refine the search)` : "";
  const drawn = Math.min(chains.length, DRAWN_MAX);
  $("count").textContent = `${chains.length} of ${view.topology.port_chains.length} chains${more};`
    + ` ${drawn} drawn`;
  updateList();
}

function updateList() {
  for (const button of $("chain-list").querySelectorAll("button")) {
    const id = button.dataset.chainId;
    const [pps, bps] = chainRate(id);
    const chain = view.index.chains.get(id);
    const trouble = chainTrouble(chain) ? " ⚠" : "";
    const rate = button.querySelector(".rate");
    rate.textContent = `${formatRate(pps, "pkt/s")} · ${formatRate(bps, "B/s")} · ${chainPackets(id)} pkts${trouble}`;
    rate.classList.toggle("trouble", Boolean(trouble));
    button.querySelector("polyline").setAttribute("points", sparkline(view.history.get(id) || [], HISTORY, 18));
  }
}

function renderChassis() {
  $("chassis-list").replaceChildren(...view.topology.chassis.map((c) => {
    const li = document.createElement("li");
    const alive = view.live?.chassis?.[c.name] ?? c.alive;
    li.className = alive ? "alive" : "dead";
    li.dataset.chassis = c.name;
    li.textContent = `${c.name} ${c.underlay_ip || ""} — ${alive ? "alive" : "down"}`;
    return li;
  }));
  if (!view.topology.chassis.length) {
    const li = document.createElement("li");
    li.textContent = "none shown (none registered, or not an admin's token)";
    $("chassis-list").replaceChildren(li);
  }
}

// ---- the picture -------------------------------------------------------------------------------

// The picture follows the topology in place: elements that stay keep their place in the picture, so
// the user's zoom, pan and selection survive a topology change; the picture is fitted the first time
// and when the user searches or filters (and the Fit button fits on demand).
function draw(chains, { fit = false } = {}) {
  const shown = chains.slice(0, DRAWN_MAX);
  const elements = chainElements(view.index, shown, { healthy });
  const withChassis = view.topology.chassis.length > 0;
  if (withChassis) layoutPositions(elements);
  const fitted = fit || view.cy.elements().empty();
  view.cy.batch(() => reconcile(elements));
  if (withChassis) {
    if (fitted) view.cy.fit(undefined, 20);
  } else {
    view.cy.layout({ name: "dagre", rankDir: "LR", fit: fitted, padding: 20, nodeSep: 20 }).run();
  }
  applySelection();
  drawTrace();
  updatePicture();
}

const FIXED = new Set(["id", "source", "target", "parent"]); // cytoscape will not change these via data()

function reconcile(elements) {
  const wanted = new Map(elements.map((e) => [e.data.id, e]));
  view.cy.elements().filter((e) => !wanted.has(e.id())).remove();
  const added = elements.filter((el) => view.cy.getElementById(el.data.id).empty());
  // areas before what they hold, nodes before edges; first, so a node can move into a new area
  const order = (e) => (e.group === "edges" ? 2 : e.classes === "chassis" ? 0 : 1);
  const fresh = new Set(added.map((el) => el.data.id));
  view.cy.add(added.sort((a, b) => order(a) - order(b)));
  for (const el of elements) {
    if (fresh.has(el.data.id)) continue;
    const held = view.cy.getElementById(el.data.id);
    held.data(Object.fromEntries(Object.entries(el.data).filter(([k]) => !FIXED.has(k))));
    held.classes(el.classes);
    if (held.isNode() && (held.data("parent") ?? null) !== (el.data.parent ?? null)) {
      held.move({ parent: el.data.parent ?? null }); // in place: its edges stay
    }
    if (el.position) held.position(el.position);
  }
}

function updatePicture() {
  const rates = view.live?.rates || {};
  view.cy.batch(() => {
    view.cy.nodes(".chassis").forEach((n) => {
      const alive = view.live?.chassis?.[n.data("name")] ?? view.index.chassis.get(n.data("name"))?.alive;
      n.toggleClass("dead", alive === false);
    });
    view.cy.nodes(".instance").forEach((n) => {
      const id = n.data("pair");
      const pair = view.index.pairs.get(id);
      const [pps] = rates.instances?.[id] || [0, 0];
      const group = view.index.groups.get(view.index.groupOfPair.get(id));
      const groupPps = (group?.port_pairs || []).reduce((s, p) => s + (rates.instances?.[p]?.[0] || 0), 0);
      const share = groupPps > 0 ? `${Math.round((100 * pps) / groupPps)}%` : "–";
      n.data("label", `${pair.name || id.slice(0, 8)}\nw ${pair.weight} · share ${share}\n${formatRate(pps, "pkt/s")}`);
      n.toggleClass("unhealthy", !healthy(id));
    });
    view.cy.edges(".hop").forEach((e) => {
      const [pps] = rates.instances?.[e.data("pair")] || [0, 0];
      e.data("label", pps > 0 ? formatRate(pps, "pkt/s") : "");
    });
  });
}

// ---- a chain's details and trace ---------------------------------------------------------------

function select(chainId) {
  view.selected = chainId;
  view.trace = null;
  view.traceNote = "";
  drawTrace();
  applySelection();
  renderDetails();
}

// the selected chain stands out (the others fade) and is pressed in the list
function applySelection() {
  for (const b of $("chain-list").querySelectorAll("button")) {
    b.setAttribute("aria-pressed", String(b.dataset.chainId === view.selected));
  }
  view.cy.elements().removeClass("faded");
  if (!view.selected) return;
  const chainId = view.selected;
  view.cy.elements().not(`[chain = "${chainId}"]`).not(".chassis").not(".trace").addClass("faded");
  view.cy.nodes().filter((n) => n.connectedEdges(`[chain = "${chainId}"]`).length > 0).removeClass("faded");
}

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

function table(caption, headings, rows) {
  const t = document.createElement("table");
  const cap = t.createCaption();
  cap.textContent = caption;
  const head = t.createTHead().insertRow();
  headings.forEach((h) => { const th = document.createElement("th"); th.scope = "col"; th.textContent = h; head.append(th); });
  const body = t.createTBody();
  rows.forEach((r) => { const tr = body.insertRow(); r.forEach((c) => tr.append(cell(c))); });
  return t;
}

function classifierText(fc) {
  const ports = (lo, hi) => (lo == null ? "any" : lo === hi || hi == null ? `${lo}` : `${lo}-${hi}`);
  const port = (id) => (id ? view.index.ports.get(id)?.name || id.slice(0, 8) : "any");
  return `${fc.protocol || "any"} ${fc.source_ip_prefix || port(fc.logical_source_port)}:`
    + `${ports(fc.source_port_range_min, fc.source_port_range_max)} → `
    + `${fc.destination_ip_prefix || port(fc.logical_destination_port)}:`
    + `${ports(fc.destination_port_range_min, fc.destination_port_range_max)}`;
}

// what a chain's path depends on: a trace drawn under another signature may show a path no longer taken
function chainSignature(chainId) {
  const chain = view.index.chains.get(chainId);
  if (!chain) return "";
  const groups = chain.port_pair_groups.map((g) => view.index.groups.get(g)).filter(Boolean).map((group) => [
    group.id, group.bypassed, group.dropping, group.tap,
    group.port_pairs.map((p) => [p, healthy(p), view.index.pairs.get(p)?.chassis, view.index.pairs.get(p)?.weight]),
  ]);
  const ports = chain.flow_classifiers.map((f) => view.index.classifiers.get(f)).filter(Boolean)
    .map((fc) => [fc.logical_source_port, fc.logical_destination_port].map((id) => view.index.ports.get(id)?.chassis));
  return JSON.stringify([chain.port_pair_groups, chain.flow_classifiers, groups, ports]);
}

function renderDetails() {
  const aside = $("details");
  const chain = view.index.chains.get(view.selected);
  if (!chain) {
    const hint = document.createElement("p");
    hint.className = "hint";
    hint.textContent = HINT;
    aside.replaceChildren(hint);
    return;
  }
  const h = document.createElement("h2");
  h.textContent = `Chain ${chain.name || chain.id}`;
  const meta = document.createElement("p");
  meta.textContent = `chain_id ${chain.chain_id} · ${chain.correlation}${chain.symmetric ? " · symmetric" : ""}`;
  const rates = view.live?.rates?.instances || {};
  const fcs = chain.flow_classifiers.map((f) => view.index.classifiers.get(f)).filter(Boolean)
    .map((fc) => [fc.name || fc.id.slice(0, 8), classifierText(fc)]);
  const hopRates = view.live?.rates?.hops || {};
  const hops = chain.port_pair_groups.map((g, i) => {
    const group = view.index.groups.get(g);
    const state = group.bypassed ? "bypassed (fail-open)" : group.dropping ? "dropping (fail-closed)"
      : group.tap ? "tap" : "inline";
    const [pps, bps] = hopRates[g] || [0, 0];
    return [`${i + 1}`, group.name || g.slice(0, 8), chain.headers[i] || "", state,
      `${formatRate(pps, "pkt/s")} · ${formatRate(bps, "B/s")}`];
  });
  const instances = chain.port_pair_groups.flatMap((g) => {
    const group = view.index.groups.get(g);
    const total = group.port_pairs.reduce((s, p) => s + (rates[p]?.[0] || 0), 0);
    const weights = group.port_pairs.reduce((s, p) => s + (view.index.pairs.get(p)?.weight || 0), 0);
    return group.port_pairs.map((p) => {
      const pair = view.index.pairs.get(p);
      const [pps, bps] = rates[p] || [0, 0];
      return [group.name || g.slice(0, 8), pair.name || p.slice(0, 8), pair.chassis || "",
        `${pair.weight} (${weights ? Math.round((100 * pair.weight) / weights) : 0}%)`,
        total > 0 ? `${Math.round((100 * pps) / total)}%` : "–",
        `${formatRate(pps, "pkt/s")} · ${formatRate(bps, "B/s")}`,
        healthy(p) ? "healthy" : "unhealthy"];
    });
  });
  const button = document.createElement("button");
  button.type = "button";
  button.id = "trace-button";
  button.textContent = "Trace a sample packet";
  button.addEventListener("click", () => traceChain(chain.id));
  const traced = document.createElement("p");
  traced.id = "trace-result";
  traced.setAttribute("aria-live", "polite");
  traced.textContent = view.trace?.summary || view.trace?.error || view.traceNote || "";
  aside.replaceChildren(h, meta, table("Classifiers", ["name", "match"], fcs),
    table("Hops", ["#", "group", "header", "state", "rate"], hops),
    table("Instances", ["group", "instance", "chassis", "weight", "share", "rate", "health"], instances),
    button, traced);
}

async function traceChain(chainId) {
  $("trace-result").textContent = "tracing…";
  try {
    const { trace } = await api(`/v2.0/sfc/port_chains/${chainId}/trace`);
    view.trace = trace || { error: "this server has no trace (start it with `steerflow api`)" };
    view.traceSignature = chainSignature(chainId);
  } catch (err) {
    view.trace = { error: String(err.message || err) };
  }
  drawTrace();
  renderDetails();
}

function drawTrace() {
  view.cy.remove(".trace");
  view.cy.elements().removeClass("traced");
  const visits = view.trace?.visits || [];
  const nodeOf = (id) => {
    if (view.index.pairs.has(id)) return `pair:${id}`;
    return `port:${id}`;
  };
  const edges = [];
  for (let i = 1; i < visits.length; i += 1) {
    const [a, b] = [nodeOf(visits[i - 1]), nodeOf(visits[i])];
    if (view.cy.getElementById(a).nonempty() && view.cy.getElementById(b).nonempty()) {
      edges.push({ group: "edges", classes: "trace", data: { id: `trace:${i}`, source: a, target: b, label: `${i}` } });
    }
  }
  view.cy.add(edges);
  visits.forEach((v) => view.cy.getElementById(nodeOf(v)).addClass("traced"));
}

// ---- refresh -----------------------------------------------------------------------------------

function refresh({ fit = false } = {}) {
  const t0 = performance.now();
  const chains = filtered();
  const focused = document.activeElement?.dataset?.chainId;
  renderList(chains);
  if (focused) $("chain-list").querySelector(`button[data-chain-id="${focused}"]`)?.focus();
  draw(chains, { fit });
  view.timings.lastFilter = performance.now() - t0;
}

async function loadTopology() {
  const t0 = performance.now();
  const { topology } = await api("/v2.0/steerflow/topology");
  const fetched = performance.now();
  view.topology = topology;
  view.index = indexTopology(topology);
  const indexed = performance.now();
  if (view.selected && !view.index.chains.has(view.selected)) {
    view.selected = null;
    view.trace = null;
    view.traceNote = "";
  }
  if (view.trace && chainSignature(view.selected) !== view.traceSignature) {
    view.trace = null; // its path may be another now: a stale trace would mislead
    view.traceNote = "The chain changed since its trace (configuration, health or placement): trace it again.";
  }
  renderChassis();
  refresh();
  renderDetails();
  view.timings.topologies += 1;
  view.timings.lastTopology = { // ms
    fetch: fetched - t0, index: indexed - fetched, redraw: view.timings.lastFilter, page: performance.now() - fetched,
  };
  if (view.timings.firstRender === null) view.timings.firstRender = performance.now() - started;
  setStatus(`${topology.port_chains.length} chains, ${topology.port_pairs.length} instances,`
    + ` ${topology.chassis.length} chassis`);
}

function onLive(state) {
  const t0 = performance.now();
  if (state.error) { setStatus(`live feed: ${state.error}`); return; }
  view.live = state;
  view.timings.events += 1;
  if (view.topology && state.fingerprint !== view.topology.fingerprint) {
    view.topology.fingerprint = state.fingerprint; // fetched once per change
    loadTopology().catch((err) => setStatus(String(err.message || err)));
    return;
  }
  for (const chain of view.topology?.port_chains || []) {
    const points = view.history.get(chain.id) || [];
    points.push(chainRate(chain.id)[0]);
    if (points.length > HISTORY) points.shift();
    view.history.set(chain.id, points);
  }
  renderChassis();
  updateList();
  updatePicture();
  if (view.selected) renderDetails();
  view.timings.lastTick = performance.now() - t0;
}

async function follow() {
  // fetch, not EventSource: EventSource cannot send the X-Auth-Token header
  for (;;) {
    try {
      const headers = { Accept: "text/event-stream" };
      if (token()) headers["X-Auth-Token"] = token();
      const response = await fetch(`${API}/v2.0/steerflow/live`, { headers });
      if (response.status === 401) { askToken(); return; }
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const event = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = event.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5)).join("");
          if (data) onLive(JSON.parse(data));
        }
      }
    } catch (err) {
      setStatus(`live feed lost (${err.message || err}); reconnecting`);
    }
    await new Promise((r) => setTimeout(r, 2000));
  }
}

function start() {
  view.cy = cytoscape({
    container: $("graph"),
    wheelSensitivity: 0.3,
    maxZoom: 1.6, // fitting a few nodes must not blow them up
    minZoom: 0.05,
    style: [
      { selector: "node", style: { label: "data(label)", "font-size": 10, "text-wrap": "wrap", "text-valign": "bottom",
        "text-margin-y": 3, width: 22, height: 22, "background-color": "#5f6b7a", color: "#1b1f24" } },
      { selector: ".chassis", style: { shape: "round-rectangle", "background-color": "#eef2f6", "background-opacity": 1,
        "border-width": 1, "border-color": "#8a94a1", "text-valign": "top", "font-size": 12, "font-weight": "bold",
        padding: 14 } },
      { selector: ".chassis.dead", style: { "background-color": "#d0d3d7", opacity: 0.55, "border-style": "dashed" } },
      { selector: ".vm", style: { shape: "rectangle", "background-color": "#3c4a5c" } },
      { selector: ".instance", style: { shape: "ellipse", "background-color": "#0b57d0" } },
      { selector: ".instance.tap", style: { shape: "diamond" } },
      { selector: ".instance.unhealthy", style: { "border-width": 4, "border-color": "#b3261e", "background-color": "#f2b8b5" } },
      { selector: "edge", style: { width: 2, "line-color": "data(colour)", "target-arrow-color": "data(colour)",
        "target-arrow-shape": "triangle", "curve-style": "bezier", label: "data(label)", "font-size": 9,
        "text-background-color": "#fff", "text-background-opacity": 0.85 } },
      { selector: "edge.tunnel", style: { width: 4 } },
      { selector: "edge.copy", style: { "line-style": "dashed" } },
      { selector: "edge.bypass", style: { "line-style": "dotted", "line-color": "#b3261e", "target-arrow-color": "#b3261e" } },
      // the edge that skips a bypassed hop bends away, so it is never drawn through the dead instances
      { selector: "edge.hop.bypass, edge.exit.bypass", style: { "curve-style": "unbundled-bezier",
        "control-point-distances": -70, "control-point-weights": 0.5 } },
      { selector: "edge.branch", style: { "line-style": "dashed", width: 3, "line-color": "#e65100" } },
      { selector: "edge.trace", style: { width: 3, "line-color": "#f9a825", "target-arrow-color": "#f9a825",
        "curve-style": "unbundled-bezier", "control-point-distances": 30, "z-index": 10 } },
      { selector: ".traced", style: { "border-width": 4, "border-color": "#f9a825" } },
      { selector: ".faded", style: { opacity: 0.2 } },
    ],
  });
  view.cy.on("tap", "edge", (e) => { if (e.target.data("chain")) select(e.target.data("chain")); });
  let pending = null;
  const later = () => { clearTimeout(pending); pending = setTimeout(() => refresh({ fit: true }), 150); };
  $("search").addEventListener("input", later);
  $("filter").addEventListener("change", () => refresh({ fit: true }));
  $("token-button").addEventListener("click", askToken);
  $("fit-button").addEventListener("click", () => view.cy.fit(undefined, 20));
  $("token-form").addEventListener("submit", () => {
    sessionStorage.setItem(TOKEN_KEY, $("token").value);
    setTimeout(() => window.location.reload(), 0);
  });
  loadTopology().then(follow).catch((err) => setStatus(String(err.message || err)));
}

start();
