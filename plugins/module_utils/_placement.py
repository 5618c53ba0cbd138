# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Host plan check: the inventory's ``vllm_services`` x the host's GPUs (gpu_info output) -> problems.

Pure Python, no ansible import. For one host it checks, collecting every problem instead of stopping at the
first:

* the service entries themselves (names, tasks, ports, TP/PP integers: ``_vllm_service.problems``);
* GPU indices exist and are not repeated; ``len(gpus) == tensor_parallel_size x pipeline_parallel_size``
  (per node for multi-node services);
* the model's architecture allows the TP size (attention heads, KV heads);
* each service fits its GPUs (the fit engine ``_vllm_memory.estimate``: weights, activations, KV cache for
  ``max_model_len``);
* GPUs shared by several services: vLLM requests ``total x gpu_memory_utilization`` on every GPU of every
  instance and refuses to start when less than that is free, so per GPU
  ``sum(utilization) + memory already used by other processes / total <= 1``;
* ports are free on the host (when asked);
* a tensor-parallel group sits on the best-linked GPUs available (warning otherwise).

Each problem is ``{service, variable, message, fix}`` where ``variable`` is the inventory path to change
(``vllm_services[0].tensor_parallel_size``). Memory is in bytes; GiB = 2**30 bytes as vLLM prints it.
"""
from __future__ import annotations

import itertools
import json
import os

from ansible_collections.llmops.vllm_stack.plugins.module_utils import _model_catalog
from ansible_collections.llmops.vllm_stack.plugins.module_utils._gpu_probe import link_rank
from ansible_collections.llmops.vllm_stack.plugins.module_utils._vllm_memory import estimate as fit_estimate
from ansible_collections.llmops.vllm_stack.plugins.module_utils._vllm_service import normalize
from ansible_collections.llmops.vllm_stack.plugins.module_utils._vllm_service import problems as service_problems

GIB = float(1 << 30)
# Memory a CUDA context takes outside vLLM's budget, per process and GPU (300-600 MiB with lazy module loading
# on Ampere/Hopper). vLLM snapshots free memory after creating its own context, so every instance's context
# (and those of the instances started before it) must fit next to the budgets.
DEFAULT_CONTEXT_BYTES = 512 << 20
# GPU size handed to the fit engine when the host's memory is unknown (before the driver): only the structural
# answers (heads, KV heads, vocabulary vs tensor_parallel_size) are used then.
NOMINAL_GPU_BYTES = 1 << 40
# Services vLLM runs with the pooling runner (no sampler, no CUDA graphs for decoding).
POOLING_TASKS = ("embed", "score")


def _gib(value):
    return None if value is None else value / GIB


def _fmt_gib(value):
    return "?" if value is None else "%.2f" % (value / GIB)


# ------------------------------------------------------------------------------------------------ GPUs
def gpu_rows(gpu_info):
    """Per-GPU memory picture from gpu_info output (NVML part; PCI-only GPUs get no memory)."""
    rows = []
    gpus = (gpu_info or {}).get("gpus") or []
    if gpus:
        for gpu in gpus:
            total = gpu.get("memory_total")
            reserved = gpu.get("memory_reserved") or 0
            free = gpu.get("memory_free")
            # What CUDA (and so vLLM) calls total: NVML total minus the driver-reserved memory.
            usable = total - reserved if total is not None else None
            if usable is not None and free is not None:
                used = max(0, usable - free)
            else:
                used = gpu.get("memory_used")
            rows.append({
                "index": int(gpu.get("index", len(rows))),
                "name": gpu.get("name") or "GPU",
                "total_bytes": total,
                "usable_bytes": usable,
                "used_bytes": used,
                "free_bytes": free,
                "processes": gpu.get("processes") or [],
            })
    else:
        for dev in (gpu_info or {}).get("pci_devices") or []:
            if dev.get("kind") == "gpu":
                rows.append({"index": int(dev.get("index", len(rows))), "name": "PCI %s" % dev.get("device_id"),
                             "total_bytes": None, "usable_bytes": None, "used_bytes": None, "free_bytes": None,
                             "processes": []})
    return rows


def link_matrix(gpu_info, count):
    matrix = (gpu_info or {}).get("link_matrix") or []
    if len(matrix) != count:
        return None
    return matrix


def _group_key(matrix, group):
    """(worst link, sum of link ranks) of a GPU set; smaller is better."""
    pairs = list(itertools.combinations(sorted(group), 2))
    if not pairs:
        return ((0, 0), 0)
    ranks = [link_rank(matrix[a][b]) for a, b in pairs]
    return (max(ranks), sum(r[0] * 100 + r[1] for r in ranks))


def worst_link(matrix, group):
    pairs = list(itertools.combinations(sorted(group), 2))
    if not pairs:
        return None
    return max((matrix[a][b] for a, b in pairs), key=link_rank)


def best_group(matrix, size, candidates):
    """The best-linked set of ``size`` GPUs among ``candidates`` (brute force; hosts have <= 16 GPUs)."""
    best = None
    for group in itertools.combinations(sorted(candidates), size):
        key = _group_key(matrix, group)
        if best is None or key < best[0]:
            best = (key, list(group))
    return best[1] if best else None


# ---------------------------------------------------------------------------------------------- models
def read_local_model(path):
    """config.json and checkpoint size from a model directory on this machine; (None, None) when absent."""
    if not isinstance(path, str) or not path.startswith("/"):
        return None, None
    try:
        with open(os.path.join(path, "config.json"), encoding="utf-8") as handle:
            config = json.load(handle)
    except (OSError, ValueError):
        return None, None
    size = None
    try:
        with open(os.path.join(path, "model.safetensors.index.json"), encoding="utf-8") as handle:
            size = int(json.load(handle)["metadata"]["total_size"])
    except (OSError, ValueError, KeyError, TypeError):
        try:
            weights = [n for n in os.listdir(path) if n.endswith(".safetensors")]
            if not weights:
                weights = [n for n in os.listdir(path) if n.endswith(".bin") and n.startswith("pytorch_model")]
            size = sum(os.path.getsize(os.path.join(path, n)) for n in weights) or None
        except OSError:
            size = None
    return config, size


def resolve_model(svc, var, local_models=None):
    """(config, weights_bytes, source, warning) for one normalized service; config None when not found.

    Order: service.model_config > <model>/config.json on the host (``local_models``: {path: (config, size)})
    > catalogue by download.repo_id or model > catalogue by the model directory's name.
    """
    weights = svc.get("weights_bytes")
    if isinstance(svc.get("model_config"), dict) and svc["model_config"]:
        return svc["model_config"], weights, "%s.model_config" % var, None
    model = svc.get("model")
    local = (local_models or {}).get(model)
    if local and local[0]:
        return local[0], weights or local[1], "%s/config.json" % model, None
    download = svc.get("download") if isinstance(svc.get("download"), dict) else {}
    for repo in (download.get("repo_id"), download.get("model_id"), model):
        entry = _model_catalog.lookup(repo)
        if entry:
            return entry["config"], weights or entry["checkpoint_bytes"], "catalogue:%s" % entry["repo_id"], None
    entry = _model_catalog.lookup_by_dirname(model)
    if entry:
        warning = ("%s: model %s is not on this machine; using the catalogue's %s (matched by directory name) — "
                   "set %s.download.repo_id to make it explicit" % (svc.get("name"), model, entry["repo_id"], var))
        return entry["config"], weights or entry["checkpoint_bytes"], "catalogue:%s" % entry["repo_id"], warning
    return None, weights, None, None


def _problem(service, variable, message, fix):
    return {"service": service, "variable": variable, "message": message, "fix": fix}


def _runner(task):
    return "pooling" if task in POOLING_TASKS else "generate"


# ------------------------------------------------------------------------------------------------ ports
def listening_ports(proc_path="/proc"):
    """{port: {"pid": int|None, "cmdline": str|None}} for TCP sockets in LISTEN state (IPv4 and IPv6)."""
    inodes = {}
    for name in ("tcp", "tcp6"):
        try:
            with open(os.path.join(proc_path, "net", name), encoding="ascii") as handle:
                lines = handle.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != "0A":
                continue
            port = int(fields[1].rsplit(":", 1)[1], 16)
            inodes.setdefault(port, set()).add(fields[9])
    owners = {}
    wanted = {inode for found in inodes.values() for inode in found}
    if wanted:
        try:
            pids = [p for p in os.listdir(proc_path) if p.isdigit()]
        except OSError:
            pids = []
        for pid in pids:
            fd_dir = os.path.join(proc_path, pid, "fd")
            try:
                fds = os.listdir(fd_dir)
            except OSError:
                continue
            for fd in fds:
                try:
                    target = os.readlink(os.path.join(fd_dir, fd))
                except OSError:
                    continue
                if target.startswith("socket:[") and target[8:-1] in wanted:
                    owners[target[8:-1]] = int(pid)
    result = {}
    for port, found in inodes.items():
        pid = next((owners[i] for i in found if i in owners), None)
        cmdline = None
        if pid is not None:
            try:
                with open(os.path.join(proc_path, str(pid), "cmdline"), encoding="utf-8", errors="replace") as h:
                    cmdline = " ".join(part for part in h.read().split("\x00") if part)
            except OSError:
                cmdline = None
        result[port] = {"pid": pid, "cmdline": cmdline}
    return result


def _is_own_vllm(cmdline, port):
    """A process that is this plan's vLLM service on ``port`` (a re-run after deployment)."""
    if not cmdline or "vllm" not in cmdline:
        return False
    words = cmdline.split()
    for i, word in enumerate(words):
        if word == "--port" and i + 1 < len(words) and words[i + 1] == str(port):
            return True
        if word == "--port=%d" % port:
            return True
    return False


# ------------------------------------------------------------------------------------------------ check
def _default_util(vllm_version):
    """vLLM's gpu_memory_utilization default: 0.9 up to 0.19, 0.92 from 0.20 (vllm/config/cache.py)."""
    try:
        major, minor = (int(x) for x in str(vllm_version).split(".")[:2])
    except (TypeError, ValueError):
        return 0.92
    return 0.92 if (major, minor) >= (0, 20) else 0.9


def check_plan(services, gpu_info, vllm_version=None, local_models=None, listening=None, estimate=None,
               host="this host", context_bytes=DEFAULT_CONTEXT_BYTES):
    """Check a host's plan. Returns {ok, problems, warnings, services, gpu_table, gpu_table_text}.

    ``local_models``: {model path: (config dict, checkpoint bytes)} read on the host (None = not looked at).
    ``listening``: output of ``listening_ports()`` (None = ports not checked).
    ``estimate``: the fit engine function (default ``_vllm_memory.estimate``).
    """
    estimate = estimate or fit_estimate
    problems, warnings, results = [], [], []
    schema = [p for p in service_problems(services, profile="gpu")
              if not (p["variable"].endswith(".api_key") or p["variable"] == "vllm_api_key")]
    bad_vars = {p["variable"] for p in schema}
    entries = services if isinstance(services, list) else []
    names = {}
    for i, raw in enumerate(entries):
        names[i] = raw.get("name") if isinstance(raw, dict) else None
    for prob in schema:
        idx = _index_of(prob["variable"])
        problems.append(_problem(names.get(idx), prob["variable"], prob["message"], prob["fix"]))

    rows = gpu_rows(gpu_info)
    by_index = {row["index"]: row for row in rows}
    matrix = link_matrix(gpu_info, len(rows))
    placements = {}  # gpu index -> [(service index, name, util)]
    own_pids = {}

    for i, raw in enumerate(entries):
        if not isinstance(raw, dict):
            continue
        var = "vllm_services[%d]" % i
        svc = normalize(raw, i)
        name = svc.get("name") or var
        tp, pp = svc.get("tensor_parallel_size"), svc.get("pipeline_parallel_size")
        gpus = svc.get("gpus")
        result = {"name": name, "index": i, "gpus": gpus, "tensor_parallel_size": tp,
                  "pipeline_parallel_size": pp, "model": svc.get("model"), "model_source": None, "fit": None}
        results.append(result)
        ints_ok = (var + ".tensor_parallel_size") not in bad_vars and (var + ".pipeline_parallel_size") not in bad_vars
        gpus_ok = (var + ".gpus") not in bad_vars and isinstance(gpus, list)

        # --- GPU indices and counts
        if gpus_ok:
            dupes = sorted({g for g in gpus if gpus.count(g) > 1})
            if dupes:
                problems.append(_problem(name, var + ".gpus", "GPU %s listed more than once in %s"
                                         % (", ".join(map(str, dupes)), gpus), "list each GPU once"))
                gpus_ok = False
            missing = [g for g in gpus if g not in by_index]
            if missing:
                have = "GPUs %d-%d" % (0, len(rows) - 1) if rows else "no NVIDIA GPU"
                problems.append(_problem(name, var + ".gpus",
                                         "GPU %s does not exist on %s: it has %s"
                                         % (", ".join(map(str, missing)), host, have),
                                         "use indices from 0 to %d (nvidia-smi order)" % (len(rows) - 1)
                                         if rows else "run this plan on a host with NVIDIA GPUs"))
                gpus_ok = False
        if ints_ok and gpus_ok:
            nodes = svc.get("nodes")
            if isinstance(nodes, list) and nodes:
                n_nodes = len(nodes)
            else:
                n_nodes = nodes if isinstance(nodes, int) and nodes > 0 else 1
            if (tp * pp) % n_nodes or len(gpus) != tp * pp // n_nodes:
                per = "%d" % (tp * pp // n_nodes) if not (tp * pp) % n_nodes else "%d/%d" % (tp * pp, n_nodes)
                fix_tp = max(1, len(gpus) * n_nodes // pp)
                problems.append(_problem(
                    name, var + ".gpus",
                    "%d GPU(s) listed but tensor_parallel_size %d x pipeline_parallel_size %d%s needs %s per node"
                    % (len(gpus), tp, pp, " over %d nodes" % n_nodes if n_nodes > 1 else "", per),
                    "list %s GPUs in %s.gpus, or set %s.tensor_parallel_size to %d"
                    % (per, var, var, fix_tp)))

        # --- model, TP limits, fit
        config, weights, source, warn = resolve_model(svc, var, local_models)
        result["model_source"] = source
        result["weights_bytes"] = weights
        if warn:
            warnings.append(warn)
        if config is None:
            problems.append(_problem(
                name, var + ".model_config",
                "no config.json for %r: not found on %s and not in the catalogue" % (svc.get("model"), host),
                "set %s.model_config (the model's config.json as a dict) and %s.weights_bytes, or "
                "%s.download.repo_id to one of: %s" % (var, var, var, ", ".join(_model_catalog.known_ids()))))
        mine = [by_index[g] for g in gpus] if gpus_ok and gpus and all(g in by_index for g in gpus) else []
        usable = [r["usable_bytes"] for r in mine if r["usable_bytes"] is not None]
        memory_known = bool(mine) and len(usable) == len(mine)
        fit = None
        if config is not None and ints_ok:
            if len({r["name"] for r in mine}) > 1:
                warnings.append("%s: GPUs %s are different models (%s); vLLM sizes every rank like the smallest"
                                % (name, gpus, ", ".join(sorted({r["name"] for r in mine}))))
            # without memory figures (no driver yet) the engine still answers the structural questions
            gpu_bytes = min(usable) if memory_known else NOMINAL_GPU_BYTES
            gpu_name = mine[0]["name"] if mine else None
            try:
                fit = _fit(estimate, svc, config, weights, gpu_bytes, vllm_version, gpu_name)
            except ValueError as exc:
                problems.append(_problem(name, var, "the fit engine refused the entry: %s" % exc,
                                         "fix the value it names in %s" % var))
        if fit is not None:
            structural = [r for r in fit.get("reasons") or [] if _is_structural(r)]
            pp_reasons = [r for r in structural if r.startswith("pipeline_parallel_size")]
            tp_reasons = [r for r in structural if r not in pp_reasons]
            if tp_reasons:
                fix = "use a tensor_parallel_size the model allows (%s) and list that many GPUs in %s.gpus" % (
                    ", ".join(map(str, _valid_tps(estimate, svc, config, weights, vllm_version, len(rows) or 16)))
                    or "none up to %d" % (len(rows) or 16), var)
                if memory_known:
                    hint = _tp_alternatives(estimate, svc, config, weights, rows, vllm_version,
                                            taken=placements_other(entries, i, by_index))
                    if hint:
                        fix += ". On %s: %s" % (host, hint)
                problems.append(_problem(name, var + ".tensor_parallel_size", " ".join(tp_reasons), fix))
            if pp_reasons:
                problems.append(_problem(name, var + ".pipeline_parallel_size", " ".join(pp_reasons),
                                         "use fewer pipeline stages than the model has layers"))
            if memory_known and not structural:
                result["fit"] = fit
                memory = list(fit.get("reasons") or [])
                if memory:
                    problems.append(_problem(
                        name, _fit_variable(memory, var),
                        "does not fit on GPU(s) %s (%s, %s GiB usable each): %s"
                        % (gpus, mine[0]["name"], _fmt_gib(min(usable)), " ".join(memory)),
                        _fit_fix(fit, var, len(rows))))
        util = fit.get("gpu_memory_utilization") if fit else None
        if util is None:
            util = svc.get("gpu_memory_utilization") or _default_util(vllm_version)
        result["gpu_memory_utilization"] = util
        if mine:
            if not memory_known:
                warnings.append("%s: memory fit not checked — %s reports no GPU memory (NVIDIA driver not loaded "
                                "or NVML unavailable); run preflight again after the nvidia_driver role"
                                % (name, host))
            outside = 0
            if result["fit"] and not result["fit"].get("cudagraph_applied") and not svc.get("enforce_eager"):
                outside = int(result["fit"].get("cudagraph_bytes") or 0)
            for g in gpus:
                placements.setdefault(g, []).append((i, name, util, outside))
            for row in mine:
                for proc in row["processes"]:
                    if _is_own_vllm(proc.get("cmdline"), svc.get("port")):
                        own_pids.setdefault(row["index"], set()).add(proc.get("pid"))
            if matrix and len(gpus) > 1 and (not svc.get("nodes")):
                _link_warning(warnings, matrix, name, var, gpus, placements_other(entries, i, by_index))

        # --- ports
        port = svc.get("port")
        if listening is not None and isinstance(port, int) and port in listening:
            owner = listening[port]
            if _is_own_vllm(owner.get("cmdline"), port):
                warnings.append("%s: port %d is already served by a vLLM process (pid %s) — expected when this plan "
                                "is deployed already" % (name, port, owner.get("pid")))
            else:
                problems.append(_problem(name, var + ".port", "port %d is already in use on %s by %s"
                                         % (port, host, owner.get("cmdline") or "pid %s" % owner.get("pid")),
                                         "choose a free port for %s.port or stop that process" % var))

    table = _gpu_table(rows, placements, own_pids, context_bytes)
    for row in table:
        if row["usable_gib"] is None or not row["services"]:
            continue
        if row["over"]:
            on = row["services"]
            var = ", ".join("vllm_services[%d].gpu_memory_utilization" % s["index"] for s in on)
            parts = " + ".join("%s %.2f" % (s["name"], s["util"]) for s in on)
            room = max(0.0, 1.0 - row["used_fraction"] - row["context_fraction"])
            used = (" + %.3f already used by other processes (%.2f GiB)" % (row["used_fraction"], row["used_gib"])
                    if row["used_gib"] else "")
            problems.append(_problem(
                ", ".join(s["name"] for s in on), var,
                "GPU %d (%s, %.2f GiB usable): %s%s + %.3f for %d CUDA context(s) (~%.2f GiB each, outside "
                "gpu_memory_utilization) = %.3f > 1 — vLLM requests usable memory x gpu_memory_utilization per "
                "instance and refuses to start when less than that is free"
                % (row["index"], row["name"], row["usable_gib"], parts, used, row["context_fraction"], len(on),
                   context_bytes / GIB, row["total_fraction"]),
                "make the gpu_memory_utilization values on GPU %d sum to at most %.2f (%s), or move a service to "
                "another GPU" % (row["index"], room, _scaled(on, room))))
        elif row["cudagraph_gib"] and row["with_cudagraph_fraction"] > 1.0 + 1e-9:
            room = max(0.0, 1.0 - row["used_fraction"] - row["context_fraction"] - row["cudagraph_fraction"])
            warnings.append(
                "GPU %d: CUDA graphs (about %.2f GiB, captured after the KV cache and not budgeted by vLLM < 0.20) "
                "may not fit in the %.2f GiB left; if a service fails with CUDA out of memory during graph capture, "
                "bring the gpu_memory_utilization values to at most %.2f in total (%s) or set enforce_eager: true"
                % (row["index"], row["cudagraph_gib"], max(0.0, row["headroom_gib"]), room,
                   _scaled(row["services"], room)))
    return {
        "ok": not problems,
        "problems": problems,
        "warnings": warnings,
        "services": results,
        "gpu_table": table,
        "gpu_table_text": format_gpu_table(table),
    }


def _is_structural(reason):
    """A reason about the parallel layout (vLLM refuses to start whatever the memory)."""
    return "divisible" in reason or "aligned with the quantized weight" in reason or \
        reason.startswith("pipeline_parallel_size")


def _valid_tps(estimate, svc, config, weights, vllm_version, up_to):
    """Tensor parallel sizes up to ``up_to`` the fit engine finds no structural problem with."""
    out = []
    for size in range(1, up_to + 1):
        try:
            fit = _fit(estimate, dict(svc, tensor_parallel_size=size), config, weights, NOMINAL_GPU_BYTES,
                       vllm_version, None)
        except ValueError:
            continue
        if not any(_is_structural(r) for r in fit.get("reasons") or []):
            out.append(size)
    return out


def _tp_alternatives(estimate, svc, config, weights, rows, vllm_version, taken):
    """What each valid tensor parallel size would give on this host's GPUs (same settings otherwise)."""
    pp = svc["pipeline_parallel_size"]
    free = [r for r in rows if r["index"] not in taken]
    usable = min(r["usable_bytes"] for r in rows)
    out = []
    for size in _valid_tps(estimate, svc, config, weights, vllm_version, len(rows) // pp):
        try:
            fit = _fit(estimate, dict(svc, tensor_parallel_size=size), config, weights, usable, vllm_version,
                       rows[0]["name"])
        except ValueError:
            continue
        pool = free if len(free) >= size * pp else rows
        gpus = [r["index"] for r in pool[:size * pp]]
        shared = sorted(set(gpus) & set(taken))
        also = ", but GPU %s also serves other services" % ", ".join(map(str, shared)) if shared else ""
        if fit.get("fits"):
            out.append("tensor_parallel_size %d on GPUs %s fits (%s GiB weights per GPU, KV cache for %s tokens%s)"
                       % (size, gpus, _fmt_gib(fit.get("weights_bytes_per_gpu")), fit.get("kv_cache_tokens"), also))
        elif fit.get("max_model_len_fit") and (fit.get("kv_cache_bytes") or 0) > 0:
            out.append("tensor_parallel_size %d on GPUs %s fits only with max_model_len <= %s%s"
                       % (size, gpus, fit.get("max_model_len_fit"), also))
        else:
            out.append("tensor_parallel_size %d does not fit (%s GiB of weights per GPU, %s GiB requested)"
                       % (size, _fmt_gib(fit.get("weights_bytes_per_gpu")), _fmt_gib(fit.get("requested_memory_bytes"))))
    return "; ".join(out)


def placements_other(entries, own, by_index):
    """GPUs the other services of the plan use."""
    used = set()
    for j, raw in enumerate(entries):
        if j == own or not isinstance(raw, dict) or not isinstance(raw.get("gpus"), list):
            continue
        used.update(g for g in raw["gpus"] if g in by_index)
    return used


def _link_warning(warnings, matrix, name, var, gpus, taken):
    candidates = [g for g in range(len(matrix)) if g not in taken or g in gpus]
    best = best_group(matrix, len(gpus), candidates)
    if best and _group_key(matrix, best) < _group_key(matrix, gpus):
        warnings.append("%s: GPUs %s talk over %s at worst; GPUs %s are better connected (%s) — set %s.gpus: %s "
                        "for faster tensor-parallel all-reduce"
                        % (name, gpus, worst_link(matrix, gpus), best, worst_link(matrix, best), var, best))


def _scaled(on, room):
    total = sum(s["util"] for s in on)
    if total <= 0:
        return ""
    return ", ".join("%s %.2f" % (s["name"], int(s["util"] * room / total * 100) / 100.0) for s in on)


def _fit_variable(reasons, var):
    text = " ".join(reasons).lower()
    if "max seq len" in text or "max_model_len" in text:
        return var + ".max_model_len"
    return var + ".gpu_memory_utilization"


def _fit_fix(fit, var, gpu_count):
    """The fit engine's suggestions as inventory settings (only those this host can take)."""
    out = []
    fit_len = fit.get("max_model_len_fit") or 0
    too_long = any("max seq len" in r for r in fit.get("reasons") or [])
    if too_long and fit_len and "max_model_len" not in (fit.get("suggested") or {}):
        nice = 1 << (fit_len.bit_length() - 1)
        out.append("%s.max_model_len: %d (at most %d fits at gpu_memory_utilization %s)"
                   % (var, nice, fit_len, fit.get("gpu_memory_utilization")))
    for key, value in sorted((fit.get("suggested") or {}).items()):
        if key == "tensor_parallel_size" and value > gpu_count:
            continue
        out.append("%s.%s: %s" % (var, key, json.dumps(value)))
    text = "set " + ", or ".join(out) if out else ""
    detail = "; ".join(s for s in fit.get("suggestions") or []
                       if not (s.startswith("tensor_parallel_size=") and int(s.split("=")[1].split(":")[0])
                               > gpu_count))
    if detail:
        text = (text + " (" + detail + ")") if text else detail
    return text or "use more GPUs (tensor_parallel_size), a shorter max_model_len or a smaller model"


def _fit(estimate, svc, config, weights, gpu_bytes, vllm_version, gpu_name):
    kwargs = dict(
        gpu_memory_bytes=int(gpu_bytes),
        tensor_parallel_size=svc["tensor_parallel_size"],
        pipeline_parallel_size=svc["pipeline_parallel_size"],
        gpu_memory_utilization=svc.get("gpu_memory_utilization"),
        max_model_len=svc.get("max_model_len"),
        max_num_seqs=svc.get("max_num_seqs"),
        max_num_batched_tokens=svc.get("max_num_batched_tokens"),
        dtype=svc.get("dtype") or "auto",
        quantization=svc.get("quantization"),
        kv_cache_dtype=svc.get("kv_cache_dtype") or "auto",
        block_size=svc.get("block_size"),
        enforce_eager=bool(svc.get("enforce_eager")),
        vllm_version=vllm_version,
        weights_bytes=weights,
        runner=_runner(svc.get("task")),
        gpu_name=gpu_name,
    )
    return estimate(config, **kwargs)


def _index_of(variable):
    if variable.startswith("vllm_services["):
        try:
            return int(variable[len("vllm_services["):].split("]", 1)[0])
        except ValueError:
            return None
    return None


def _gpu_table(rows, placements, own_pids, context_bytes):
    table = []
    for row in rows:
        usable = row["usable_bytes"]
        used = row["used_bytes"]
        if used is not None:
            mine = sum(p.get("used_memory") or 0 for p in row["processes"]
                       if p.get("pid") in own_pids.get(row["index"], ()))
            used = max(0, used - mine)
        services = [{"index": i, "name": n, "util": u, "gib": round(u * usable / GIB, 2) if usable else None,
                     "cudagraph_gib": round(o / GIB, 2)}
                    for i, n, u, o in placements.get(row["index"], [])]
        graphs = sum(o for _i, _n, _u, o in placements.get(row["index"], []))
        util_sum = round(sum(s["util"] for s in services), 4)
        used_fraction = (used / float(usable)) if usable and used is not None else 0.0
        context_fraction = (len(services) * context_bytes / float(usable)) if usable else 0.0
        graph_fraction = (graphs / float(usable)) if usable else 0.0
        headroom = None
        if usable:
            headroom = usable * (1.0 - util_sum) - (used or 0) - len(services) * context_bytes
        total_fraction = util_sum + used_fraction + context_fraction
        table.append({
            "index": row["index"],
            "name": row["name"],
            "total_gib": round(_gib(row["total_bytes"]), 2) if row["total_bytes"] else None,
            "usable_gib": round(_gib(usable), 2) if usable else None,
            "used_gib": round(_gib(used), 2) if used is not None else None,
            "used_fraction": round(used_fraction, 4),
            "services": services,
            "util_sum": util_sum,
            "headroom_gib": round(_gib(headroom), 2) if headroom is not None else None,
            "context_gib": round(len(services) * context_bytes / GIB, 2),
            "context_fraction": round(context_fraction, 4),
            "cudagraph_gib": round(graphs / GIB, 2),
            "cudagraph_fraction": round(graph_fraction, 4),
            "total_fraction": round(total_fraction, 4),
            "with_cudagraph_fraction": round(total_fraction + graph_fraction, 4),
            "over": bool(usable) and services != [] and total_fraction > 1.0 + 1e-9,
        })
    return table


def format_gpu_table(table):
    """Fixed-width text a person can read in the playbook output."""
    head = ("GPU", "NAME", "TOTAL GiB", "USABLE GiB", "USED GiB", "SERVICES (gpu_memory_utilization)",
            "SUM+USED+CTX", "HEADROOM GiB")
    lines = []
    for row in table:
        svc = ", ".join("%s %.2f" % (s["name"], s["util"]) for s in row["services"]) or "-"
        total = "%.3f%s" % (row["total_fraction"], " OVER" if row["over"] else "") if row["services"] else "-"
        lines.append((str(row["index"]), row["name"], _num(row["total_gib"]), _num(row["usable_gib"]),
                      _num(row["used_gib"]), svc, total, _num(row["headroom_gib"])))
    widths = [max(len(head[c]), *(len(line[c]) for line in lines)) if lines else len(head[c])
              for c in range(len(head))]
    out = ["  ".join(head[c].ljust(widths[c]) for c in range(len(head))).rstrip()]
    out.append("  ".join("-" * widths[c] for c in range(len(head))))
    for line in lines:
        out.append("  ".join(line[c].ljust(widths[c]) if c in (1, 5, 6) else line[c].rjust(widths[c])
                             for c in range(len(head))).rstrip())
    return "\n".join(out)


def _num(value):
    return "?" if value is None else "%.2f" % value
