// The picture's elements: chassis as compound nodes, VMs and function instances as nodes, each chain a
// coloured path from its classifiers' source ports through its hops' instances to their destinations.

const RANK = 150; // the preset layout (layoutPositions)
const ROW = 64;
const GAP = 80; // between chassis

function node(nodes, id, data, classes) {
  const held = nodes.get(id);
  if (!held) nodes.set(id, { group: "nodes", data: { id, ...data }, classes });
  else if (data.rank !== undefined) held.data.rank = Math.min(held.data.rank ?? data.rank, data.rank);
  return id;
}

function parentOf(index, chassis) {
  return chassis && index.chassis.has(chassis) ? `ch:${chassis}` : undefined;
}

function portNode(index, nodes, portId, rank) {
  const port = index.ports.get(portId);
  if (!port) return null;
  const label = `${port.name || portId.slice(0, 8)}\n${port.ips.join(" ")}`;
  return node(nodes, `port:${portId}`, { label, port: portId, rank, parent: parentOf(index, port.chassis) }, "vm");
}

function instanceNode(index, nodes, pairId, tap, rank) {
  const pair = index.pairs.get(pairId);
  if (!pair) return null;
  const data = { label: pair.name || pairId.slice(0, 8), pair: pairId, rank, parent: parentOf(index, pair.chassis) };
  return node(nodes, `pair:${pairId}`, data, tap ? "instance tap" : "instance");
}

export function chainElements(index, chains, { healthy }) {
  const nodes = new Map();
  const edges = new Map();
  const ends = new Map(); // chain -> {first: first hop's nodes, last: last hop's nodes}
  const edge = (chain, source, target, classes, extra = {}) => {
    const id = `e:${chain.id}:${source}>${target}:${classes}`;
    if (edges.has(id)) return;
    const a = nodes.get(source)?.data.parent;
    const b = nodes.get(target)?.data.parent;
    const tunnel = a && b && a !== b ? " tunnel" : "";
    edges.set(id, { group: "edges", classes: classes + tunnel,
      data: { id, source, target, chain: chain.id, colour: index.colour.get(chain.id), label: "", ...extra } });
  };
  for (const chain of chains) {
    const fcs = chain.flow_classifiers.map((f) => index.classifiers.get(f)).filter(Boolean);
    let previous = fcs.map((fc) => portNode(index, nodes, fc.logical_source_port, 0)).filter(Boolean);
    let first = null;
    let bypass = "";
    for (const [position, groupId] of chain.port_pair_groups.entries()) {
      const group = index.groups.get(groupId);
      if (!group) continue;
      const instances = group.port_pairs.map((p) => instanceNode(index, nodes, p, group.tap, position + 1))
        .filter(Boolean);
      first = first || instances;
      if (group.tap) { // a copy goes to the tap, the packet goes on
        previous.forEach((s) => instances.forEach((t) => edge(chain, s, t, "copy")));
        continue;
      }
      const allFailed = group.health_check && instances.every((t) => !healthy(nodes.get(t).data.pair));
      if (group.bypassed || (allFailed && group.fail_mode === "open")) {
        previous.forEach((s) => instances.forEach((t) => edge(chain, s, t, "bypass", { label: "bypassed" })));
        bypass = " bypass";
        continue;
      }
      previous.forEach((s) => instances.forEach((t) => edge(chain, s, t, `hop${bypass}`, { pair: nodes.get(t).data.pair })));
      previous = instances;
      bypass = "";
    }
    const targets = fcs.map((fc) => portNode(index, nodes, fc.logical_destination_port, chain.port_pair_groups.length + 1))
      .filter(Boolean);
    previous.forEach((s) => targets.forEach((t) => edge(chain, s, t, `exit${bypass}`)));
    ends.set(chain.id, { first: first || targets, last: previous });
  }
  for (const graph of index.graphs || []) {
    for (const [from, tos] of Object.entries(graph.port_chains)) {
      for (const to of tos) {
        const [a, b] = [ends.get(from), ends.get(to)];
        const chain = index.chains.get(from);
        if (!a || !b || !chain) continue;
        a.last.forEach((s) => b.first.forEach((t) => edge(chain, s, t, "branch", { label: graph.name || "graph" })));
      }
    }
  }
  for (const name of index.chassis.keys()) {
    node(nodes, `ch:${name}`, { label: name, name }, "chassis");
  }
  return [...nodes.values(), ...edges.values()];
}

// positions in place: a column per rank (source 0, hop n, destination last) across the picture, a band
// per chassis down it (unbound nodes in a last band): a chain runs left to right, and a tunnel crossing
// is a move between bands
export function layoutPositions(elements) {
  const nodes = elements.filter((e) => e.group === "nodes" && e.classes !== "chassis");
  const chassis = elements.filter((e) => e.classes === "chassis").map((e) => e.data.id).sort();
  const bandOf = (n) => (chassis.includes(n.data.parent) ? n.data.parent : "");
  const rows = new Map();
  const depth = new Map();
  for (const n of nodes) {
    const key = `${bandOf(n)}/${n.data.rank || 0}`;
    const row = rows.get(key) || 0;
    rows.set(key, row + 1);
    n.row = row;
    depth.set(bandOf(n), Math.max(depth.get(bandOf(n)) || 0, row + 1));
  }
  const top = new Map();
  let y = 0;
  for (const band of [...chassis, ""]) {
    top.set(band, y);
    y += Math.max(1, depth.get(band) || 0) * ROW + GAP;
  }
  for (const n of nodes) {
    n.position = { x: (n.data.rank || 0) * RANK, y: top.get(bandOf(n)) + n.row * ROW };
    delete n.row;
  }
}
