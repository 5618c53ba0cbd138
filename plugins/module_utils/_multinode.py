# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One vLLM model over several hosts on a Ray cluster: the checks across nodes that a single host cannot make.

Pure Python, no ansible import. The per-host plan check (``_placement``) already checks that a service's
``gpus`` hold ``tensor_parallel_size x pipeline_parallel_size / nodes`` GPUs and that the model fits them. This
module checks what only the whole cluster shows:

* one head, every node with an IP address on the cluster interface, no IP twice (vLLM's Ray executor refuses
  "Every node should have a unique IP address");
* the same Ray, Python and vLLM versions everywhere (Ray refuses a node of another version);
* every node gives Ray the same number of GPUs (pipeline stages are placed node by node, each stage on one
  node's GPUs), and of the same model;
* each Ray-backed service: ``distributed_executor_backend: ray``, ``nodes`` equal to the cluster size,
  ``tensor_parallel_size x pipeline_parallel_size`` equal to the GPUs of the cluster (more: vLLM waits 30 min
  for a placement group that can never be made; fewer: Ray packs the ranks onto the head and the other nodes
  idle), tensor parallelism inside a node (across nodes its all-reduce runs over the network), its ``gpus`` the
  GPUs Ray has on the head (with Ray, vLLM's workers use Ray's GPUs, not ``CUDA_VISIBLE_DEVICES``), and only on
  the head;
* the NCCL interface name: vLLM copies every ``NCCL_*`` variable of the head to all workers, so the head's
  ``NCCL_SOCKET_IFNAME`` must name the interface on every node.

It also reads ``ray status`` (``parse_ray_status``) and finds a host's address on an interface in Ansible facts
(``interface_ipv4``). Each problem is ``{host, variable, message, fix}``.
"""
from __future__ import annotations

import re

RAY_BACKEND = "ray"


def _problem(host, variable, message, fix):
    return {"host": host, "variable": variable, "message": message, "fix": fix}


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


# ------------------------------------------------------------------------------------------ facts -> address
def interface_ipv4(facts, interface=""):
    """The IPv4 address of ``interface`` in a host's Ansible facts (``ansible_facts``).

    ``interface`` empty means the interface of the default route. Returns ``{interface, address, available}``:
    ``address`` is None when the interface does not exist or has no IPv4 address; ``available`` lists the
    interfaces that have one (loopback left out), for the error message.
    """
    facts = facts or {}
    default = facts.get("default_ipv4") or {}
    name = interface or default.get("interface") or ""
    available = []
    found = None
    for iface in facts.get("interfaces") or []:
        data = _iface_facts(facts, iface)
        addr = (data.get("ipv4") or {}).get("address") if isinstance(data.get("ipv4"), dict) else None
        if addr and not addr.startswith("127."):
            available.append(iface)
        if iface == name:
            found = addr
    if found is None and name and not facts.get("interfaces"):
        # facts gathered without the interface list: look the key up directly
        data = _iface_facts(facts, name)
        found = (data.get("ipv4") or {}).get("address") if isinstance(data.get("ipv4"), dict) else None
    return {"interface": name, "address": found, "available": sorted(available)}


def _iface_facts(facts, iface):
    """Ansible stores an interface's facts under its name with '-' turned into '_'."""
    for key in (iface, iface.replace("-", "_")):
        data = facts.get(key)
        if isinstance(data, dict) and data.get("device", iface) == iface:
            return data
    return {}


# ------------------------------------------------------------------------------------------ ray status
_NODE_LINE = re.compile(r"^\s+(\d+)\s+(\S+)\s*$")
_USAGE_LINE = re.compile(r"^\s*([0-9.]+)/([0-9.]+)\s+([A-Za-z_][\w:.-]*)\s*$")


def parse_ray_status(text):
    """``ray status`` output -> ``{active_nodes, idle_nodes, pending_nodes, nodes, resources, ok}``.

    ``nodes`` are the node names the autoscaler lists under Active and Idle (a node that runs nothing may be
    listed as idle), ``resources`` the totals of the numeric resources under "Total Usage" (CPU, GPU, ...).
    ``ok`` is false when the text is not a status report (no cluster yet: "No cluster status.").
    """
    out = {"active_nodes": 0, "idle_nodes": 0, "pending_nodes": 0, "nodes": [], "resources": {}, "ok": False}
    section = None
    for line in (text or "").splitlines():
        head = line.strip()
        if head in ("Active:", "Idle:", "Pending:"):
            section = head[:-1].lower()
            out["ok"] = True
            continue
        if head == "Total Usage:":
            section = "usage"
            continue
        if head.startswith(("Recent failures:", "Total Constraints:", "Total Demands:", "Resources")) \
                or head.startswith("-----") or head.startswith("====="):
            section = None
            continue
        if section in ("active", "idle"):
            match = _NODE_LINE.match(line)
            if match:
                count = int(match.group(1))
                out["%s_nodes" % section] += count
                out["nodes"] += [match.group(2)] * count
        elif section == "pending" and head and not head.startswith("("):
            out["pending_nodes"] += 1
        elif section == "usage":
            match = _USAGE_LINE.match(line)
            if match:
                out["resources"][match.group(3)] = float(match.group(2))
    out["total_nodes"] = out["active_nodes"] + out["idle_nodes"]
    return out


# ------------------------------------------------------------------------------------------ ray start
# Ports every node listens on (fixed so that a firewall between the nodes can be written down); the head adds
# the GCS port. Keys are ray_ports keys; values are `ray start` flags.
NODE_PORT_FLAGS = (
    ("node_manager", "--node-manager-port"),
    ("object_manager", "--object-manager-port"),
    ("runtime_env_agent", "--runtime-env-agent-port"),
    ("dashboard_agent_grpc", "--dashboard-agent-grpc-port"),
    ("dashboard_agent_listen", "--dashboard-agent-listen-port"),
    ("metrics_export", "--metrics-export-port"),
    ("min_worker", "--min-worker-port"),
    ("max_worker", "--max-worker-port"),
)
HEAD_PORT_FLAGS = (("dashboard", "--dashboard-port"), ("client_server", "--ray-client-server-port"))


def ray_start_argv(ray_bin, role, node_ip, port=6379, head_address=None, num_gpus=None, num_cpus=None,
                   temp_dir=None, ports=None, object_store_memory=None, dashboard_host="127.0.0.1",
                   extra_args=None):
    """``ray start --block`` for a head or a worker node (the unit's ExecStart).

    ``--block`` keeps the command in the foreground and makes it exit non-zero when a Ray process dies (a
    worker whose head went away), so systemd's ``Restart=on-failure`` brings the node back. ``ports`` maps the
    keys of ``NODE_PORT_FLAGS``/``HEAD_PORT_FLAGS`` to port numbers (0 or missing = Ray's choice).
    """
    if role not in ("head", "worker"):
        raise ValueError("role must be head or worker, got %r" % (role,))
    if not node_ip:
        raise ValueError("node_ip is empty")
    out = [ray_bin, "start", "--block"]
    if role == "head":
        out += ["--head", "--node-ip-address=%s" % node_ip, "--port=%d" % int(port),
                "--dashboard-host=%s" % dashboard_host]
        if temp_dir:
            # only the head takes it; the workers use the head's
            out.append("--temp-dir=%s" % temp_dir)
    else:
        if not head_address:
            raise ValueError("a worker needs head_address (<head ip>:<port>)")
        out += ["--address=%s" % head_address, "--node-ip-address=%s" % node_ip]
    if num_gpus is not None:
        out.append("--num-gpus=%d" % int(num_gpus))
    if num_cpus:
        out.append("--num-cpus=%d" % int(num_cpus))
    if object_store_memory:
        out.append("--object-store-memory=%d" % int(object_store_memory))
    flags = NODE_PORT_FLAGS + (HEAD_PORT_FLAGS if role == "head" else ())
    for key, flag in flags:
        value = (ports or {}).get(key)
        if value:
            out.append("%s=%d" % (flag, int(value)))
    out.append("--disable-usage-stats")
    for flag, value in sorted((extra_args or {}).items()):
        name = "--" + flag.lstrip("-")
        if value is True or value is None:
            out.append(name)
        elif value is not False:
            out.append("%s=%s" % (name, value))
    return out


# ------------------------------------------------------------------------------------------ the cluster
def _nodes_count(value):
    if isinstance(value, list):
        return len(value)
    return value if _is_int(value) and value > 0 else None


def ray_services(services):
    """Indices and entries of the services that run on the Ray cluster (backend ray, or nodes > 1)."""
    out = []
    for i, svc in enumerate(services or []):
        if not isinstance(svc, dict):
            continue
        nodes = _nodes_count(svc.get("nodes"))
        if svc.get("distributed_executor_backend") == RAY_BACKEND or (nodes or 1) > 1:
            out.append((i, svc))
    return out


def complete_nodes(entries, head_hosts, worker_hosts):
    """One node dict per host of the two groups, in group order (head first).

    ``entries`` are the ``__ray_node`` facts of the hosts in this run, in any order; a host without one (not in
    this run) becomes ``{host, role, in_play: false}``.
    """
    by_host = {e.get("host"): e for e in entries or [] if isinstance(e, dict) and e.get("host")}
    out = []
    for role, hosts in (("head", head_hosts or []), ("worker", worker_hosts or [])):
        for host in hosts:
            entry = dict(by_host.get(host) or {"host": host, "in_play": False})
            entry["role"] = role
            out.append(entry)
    return out


def check_cluster(nodes, profile="gpu"):
    """Every problem of a Ray cluster plan at once.

    ``nodes``: one dict per host of the ``ray_head`` and ``ray_workers`` groups:
    ``host``, ``role`` (head | worker), ``in_play`` (false when the host is not in this run: its facts are
    unknown), ``interface``, ``address`` (None when the interface has no IPv4 address), ``available``
    (interfaces with an address), ``nccl_socket_ifname``, ``gpu_indices`` (GPUs given to Ray; None = unknown),
    ``gpu_names``, ``ray_version``, ``vllm_version``, ``python_version`` (None = unknown), ``services``
    (the host's ``vllm_services``).

    Returns ``{ok, problems, warnings, head, head_address, size, gpus_per_node}``.
    """
    problems, warnings = [], []
    nodes = [n for n in nodes or [] if isinstance(n, dict)]
    heads = [n for n in nodes if n.get("role") == "head"]
    workers = [n for n in nodes if n.get("role") == "worker"]
    size = len(heads) + len(workers)
    result = {"problems": problems, "warnings": warnings, "size": size, "head": None, "head_address": None,
              "gpus_per_node": None}
    if len(heads) != 1:
        names = ", ".join(n["host"] for n in heads) or "none"
        problems.append(_problem(
            None, "ray_head",
            "the inventory group ray_head has %d hosts (%s)" % (len(heads), names),
            "put exactly one host in ray_head (it runs the GCS and the vLLM service) and the others in ray_workers"))
    head = heads[0] if heads else None
    if head:
        result["head"] = head["host"]
        result["head_address"] = head.get("address")
    seen = set()
    for node in heads + workers:
        if node["host"] in seen:
            problems.append(_problem(node["host"], "ray_workers",
                                     "%s is in both ray_head and ray_workers" % node["host"],
                                     "keep the head out of ray_workers"))
        seen.add(node["host"])
    live = [n for n in heads + workers if n.get("in_play", True)]
    missing = [n["host"] for n in heads + workers if not n.get("in_play", True)]
    if missing:
        warnings.append("not in this run, so not checked: %s (facts unknown; run without --limit to check the "
                        "whole cluster)" % ", ".join(missing))

    _check_addresses(live, problems)
    _check_versions(live, problems)
    per_node = _check_gpus(live, profile, problems, warnings)
    result["gpus_per_node"] = per_node
    _check_nccl_names(live, head, problems)
    for node in live:
        if node is head:
            continue
        for i, svc in ray_services(node.get("services")):
            problems.append(_problem(
                node["host"], "vllm_services[%d]" % i,
                "%s is a Ray worker but has the Ray-backed service %r: the service runs on the head only, its "
                "workers are Ray actors" % (node["host"], svc.get("name")),
                "set vllm_services: [] for the ray_workers group (the vllm role still installs vLLM there)"))
    if head and head.get("in_play", True):
        services = ray_services(head.get("services"))
        for i, svc in services:
            _check_service(i, svc, head, size, per_node, profile, problems, warnings)
        if workers and not services:
            warnings.append("%s: no vllm_services entry uses the Ray cluster (distributed_executor_backend: ray); "
                            "the workers sit idle" % head["host"])
    result["ok"] = not problems
    return result


def _check_addresses(live, problems):
    by_address = {}
    for node in live:
        if not node.get("address"):
            iface = node.get("interface") or "(default route)"
            problems.append(_problem(
                node["host"], "ray_interface",
                "interface %s has no IPv4 address on %s (interfaces with one: %s)"
                % (iface, node["host"], ", ".join(node.get("available") or []) or "none"),
                "set ray_interface for %s to the interface of the cluster network, or ray_node_ip to its address"
                % node["host"]))
            continue
        by_address.setdefault(node["address"], []).append(node["host"])
    for address, hosts in sorted(by_address.items()):
        if len(hosts) > 1:
            problems.append(_problem(
                ", ".join(hosts), "ray_node_ip",
                "%s all have the address %s: vLLM's Ray executor refuses nodes that share an IP address"
                % (", ".join(hosts), address),
                "give each node its own address on the cluster network (ray_interface / ray_node_ip per host)"))


def _check_versions(live, problems):
    for key, what, fix in (
            ("ray_version", "Ray", "use one ray_version for the whole cluster (group_vars, not host_vars)"),
            ("python_version", "Python", "give every node the same conda_python_version (Ray refuses a node "
                                         "whose Python minor version differs from the head's)"),
            ("vllm_version", "vLLM", "use one vllm_version for the whole cluster")):
        values = {}
        for node in live:
            value = node.get(key)
            if value:
                values.setdefault(str(value), []).append(node["host"])
        if len(values) > 1:
            parts = "; ".join("%s on %s" % (v, ", ".join(h)) for v, h in sorted(values.items()))
            problems.append(_problem(", ".join(n["host"] for n in live), key,
                                     "the nodes run different %s versions: %s" % (what, parts), fix))


def _check_gpus(live, profile, problems, warnings):
    """GPUs per node, or None when unknown / not a GPU plan."""
    if profile != "gpu":
        return None
    counts = {}
    for node in live:
        gpus = node.get("gpu_indices")
        if gpus is None:
            warnings.append("%s: GPU count unknown (no gpu_info result), not checked" % node["host"])
            continue
        if not gpus:
            problems.append(_problem(
                node["host"], "ray_gpus",
                "%s gives Ray no GPU (gpu_info found none, or ray_gpus is empty on a host without GPUs)"
                % node["host"],
                "install the NVIDIA driver first (nvidia_driver role) or list the GPUs in ray_gpus"))
            continue
        counts.setdefault(len(gpus), []).append(node["host"])
    if len(counts) > 1:
        parts = "; ".join("%d on %s" % (c, ", ".join(h)) for c, h in sorted(counts.items()))
        problems.append(_problem(
            ", ".join(h for c in sorted(counts) for h in counts[c]), "ray_gpus",
            "the nodes give Ray different numbers of GPUs (%s): each pipeline stage runs on one node's GPUs, "
            "so every node needs the same count" % parts,
            "list the same number of GPUs in ray_gpus on every node (at most %d, what the smallest node has)"
            % min(counts)))
    names = {}
    for node in live:
        for name in node.get("gpu_names") or []:
            names.setdefault(name, set()).add(node["host"])
    if len(names) > 1:
        warnings.append("the nodes have different GPU models (%s): vLLM sizes every rank like the smallest"
                        % "; ".join("%s on %s" % (n, ", ".join(sorted(h))) for n, h in sorted(names.items())))
    return next(iter(counts)) if len(counts) == 1 else None


def _check_nccl_names(live, head, problems):
    """vLLM copies NCCL_* from the driver (head) to every worker: the head's value must fit every node."""
    if not head or not head.get("in_play", True):
        return
    value = head.get("nccl_socket_ifname")
    if not value:
        return
    patterns = [p for p in value.lstrip("^=").split(",") if p]
    exact = value.startswith("=") or value.startswith("^=")
    exclude = value.startswith("^")
    for node in live:
        iface = node.get("interface")
        if not iface or node is head:
            continue
        if exclude:
            continue
        hit = any(iface == p if exact else iface.startswith(p) for p in patterns)
        if not hit:
            problems.append(_problem(
                node["host"], "ray_nccl_socket_ifname",
                "vLLM copies the head's NCCL_SOCKET_IFNAME=%s to every Ray worker, and it does not match %s's "
                "cluster interface %s" % (value, node["host"], iface),
                "set ray_nccl_socket_ifname for the whole cluster to a value that matches every node's interface "
                "(NCCL takes prefixes and comma-separated lists, e.g. %s)"
                % ",".join(sorted({head.get("interface") or value, iface}))))


def _check_service(i, svc, head, size, per_node, profile, problems, warnings):
    var = "vllm_services[%d]" % i
    name = svc.get("name") or var
    host = head["host"]
    if svc.get("distributed_executor_backend") != RAY_BACKEND:
        problems.append(_problem(
            host, var + ".distributed_executor_backend",
            "%s spans %s nodes but distributed_executor_backend is %r"
            % (name, svc.get("nodes"), svc.get("distributed_executor_backend")),
            "set %s.distributed_executor_backend: ray (the mp backend across nodes needs a vLLM process per node, "
            "which this collection does not run)" % var))
    nodes = _nodes_count(svc.get("nodes"))
    if nodes is None:
        problems.append(_problem(host, var + ".nodes",
                                 "%s runs on the Ray cluster but nodes is %r" % (name, svc.get("nodes")),
                                 "set %s.nodes: %d (the hosts of ray_head + ray_workers)" % (var, size)))
    elif nodes != size:
        problems.append(_problem(
            host, var + ".nodes",
            "%s says nodes: %d but the Ray cluster has %d (ray_head + ray_workers)" % (name, nodes, size),
            "set %s.nodes: %d, or add/remove hosts in ray_workers" % (var, size)))
    if isinstance(svc.get("nodes"), list):
        listed = set(svc["nodes"])
        if head["host"] not in listed:
            problems.append(_problem(host, var + ".nodes", "%s lists nodes %s without the head %s"
                                     % (name, svc["nodes"], head["host"]),
                                     "list the ray_head host first in %s.nodes" % var))
    tp, pp = svc.get("tensor_parallel_size", 1), svc.get("pipeline_parallel_size", 1)
    if not (_is_int(tp) and _is_int(pp) and tp > 0 and pp > 0) or profile != "gpu" or not per_node:
        return
    world, total = tp * pp, per_node * size
    best = "set %s.tensor_parallel_size: %d and %s.pipeline_parallel_size: %d (TP inside a node, one pipeline " \
           "stage per node)" % (var, per_node, var, size)
    if world != total:
        effect = ("vLLM asks Ray for %d GPUs and waits up to 30 min for a placement group the cluster cannot "
                  "make" % world) if world > total else \
                 ("Ray packs the %d ranks onto as few nodes as it can, so %d of the cluster's GPUs stay idle"
                  % (world, total - world))
        problems.append(_problem(
            host, var + ".tensor_parallel_size",
            "%s: tensor_parallel_size %d x pipeline_parallel_size %d = %d GPUs, but the cluster has %d nodes x %d "
            "GPUs = %d: %s" % (name, tp, pp, world, size, per_node, total, effect), best))
    elif tp != per_node:
        where = "across nodes (its all-reduce then crosses the network every layer)" if tp > per_node else \
            "smaller than a node (more pipeline stages than nodes)"
        warnings.append("%s: tensor_parallel_size %d with %d GPUs per node puts tensor parallelism %s; %s"
                        % (name, tp, per_node, where, best))
    gpus = svc.get("gpus")
    ray_gpus = head.get("gpu_indices")
    if isinstance(gpus, list) and ray_gpus is not None and sorted(gpus) != sorted(ray_gpus):
        problems.append(_problem(
            host, var + ".gpus",
            "%s lists GPUs %s but Ray on the head has GPUs %s: with the Ray backend vLLM's workers use the GPUs Ray "
            "gives them, not the service's CUDA_VISIBLE_DEVICES" % (name, gpus, sorted(ray_gpus)),
            "make %s.gpus and ray_gpus on %s the same list" % (var, host)))
