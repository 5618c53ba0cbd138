# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""NVIDIA driver / CUDA toolkit decisions as plain data (no ansible import).

Used by the filter plugin ``llmops.vllm_stack.nvidia`` so that the roles ``nouveau``, ``nvidia_driver`` and
``cuda_toolkit`` stay thin: every choice that depends on a branch number, a CUDA version, a distribution or the
probed GPU state is made here and unit-tested.

Sources for the data below: NVIDIA CUDA minor-version compatibility and toolkit release notes (GA minimum driver
per toolkit), the NVIDIA driver installation guide (package names, dnf module streams, version locking, the 590
package rename), the NVIDIA runfile ``--help`` (``--kernel-module-type`` since R560, ``-m=kernel-open`` before).
"""

from __future__ import annotations

import re

# --- versions ---------------------------------------------------------------------------------------------------

BRANCH_RE = re.compile(r"^[1-9][0-9]{2}$")
DRIVER_VERSION_RE = re.compile(r"^([1-9][0-9]{2})\.[0-9]{1,3}(\.[0-9]{1,3})?$")
CUDA_VERSION_RE = re.compile(r"^([0-9]{2})[.-]([0-9]{1,2})(?:[.-][0-9]{1,3})?$")
SHA256_RE = re.compile(r"^sha256:[0-9a-fA-F]{64}$")
RUNFILE_DRIVER_RE = re.compile(r"NVIDIA-Linux-[A-Za-z0-9_]+-([0-9]{3}\.[0-9]{1,3}(?:\.[0-9]{1,3})?)(?:-[a-z]+)?\.run$")
RUNFILE_CUDA_RE = re.compile(r"cuda_([0-9]{2}\.[0-9]{1,2})(?:\.[0-9]{1,3})?_([0-9]{3}\.[0-9.]+)_linux[^/]*\.run$")
NVCC_RE = re.compile(r"release ([0-9]+\.[0-9]+), V([0-9.]+)")

OLDEST_BRANCH = 450          # CUDA 11.0; anything older is not a datacenter branch this collection supports
OPEN_MODULES_FROM = 515      # open GPU kernel modules exist from R515
MODULE_TYPE_OPTION_FROM = 560  # --kernel-module-type= exists since R560 (R515-R559: -m=kernel-open)
UNSUFFIXED_PACKAGES_FROM = 590  # Debian/Ubuntu CUDA-repo driver packages lose the branch suffix from R590

# GA minimum Linux x86_64 driver per CUDA toolkit minor version (CUDA toolkit release notes, table 3).
CUDA_GA_MIN_DRIVER = {
    (11, 0): "450.51.06", (11, 1): "455.23.05", (11, 2): "460.27.03", (11, 3): "465.19.01",
    (11, 4): "470.42.01", (11, 5): "495.29.05", (11, 6): "510.39.01", (11, 7): "515.43.04",
    (11, 8): "520.61.05",
    (12, 0): "525.60.13", (12, 1): "530.30.02", (12, 2): "535.54.03", (12, 3): "545.23.06",
    (12, 4): "550.54.14", (12, 5): "555.42.02", (12, 6): "560.28.03", (12, 8): "570.26",
    (12, 9): "575.51.03",
    (13, 0): "580.65.06",
}
# Minor-version compatibility: any toolkit of a major version runs on this driver or newer (limited features).
CUDA_MAJOR_MIN_DRIVER = {11: "450.80.02", 12: "525.60.13", 13: "580.65.06"}

# Distribution -> NVIDIA CUDA network repository directory name.
CUDA_REPO_DISTROS = {
    ("Ubuntu", "22.04"): "ubuntu2204",
    ("Ubuntu", "24.04"): "ubuntu2404",
    ("Debian", "12"): "debian12",
    ("Debian", "13"): "debian13",
    ("RedHat", "9"): "rhel9",
    ("RedHat", "10"): "rhel10",
}
CUDA_REPO_ARCH = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "sbsa", "arm64": "sbsa"}
# Signing keys of the CUDA repositories since the 2022 key rotation.
CUDA_REPO_KEY = {"Debian": "3bf863cc.pub", "RedHat": "D42D0685.pub"}
# Fingerprint of the Debian/Ubuntu repository key (cuda-keyring 1.1); apt refuses unsigned metadata either way,
# the pin catches a mirror that serves another key. dnf checks the RPM signatures with the key it imports.
CUDA_REPO_KEY_FINGERPRINT = {"Debian": "EB693B3035CD5710E231E123A4B469963BF863CC", "RedHat": ""}
REDHAT_LIKE = ("RedHat", "Rocky", "AlmaLinux", "CentOS", "OracleLinux")


def version_tuple(value):
    """'580.105.08' -> (580, 105, 8); '13.0' -> (13, 0). Raises ValueError on anything else."""
    text = str(value).strip()
    if not re.match(r"^[0-9]+(\.[0-9]+)*$", text):
        raise ValueError("not a dotted version: %r" % (value,))
    return tuple(int(p) for p in text.split("."))


def branch_error(value):
    """Empty string when ``value`` is a driver branch such as "580", else why not."""
    if isinstance(value, bool) or value is None:
        return "%r is not a driver branch" % (value,)
    text = str(value).strip()
    if not BRANCH_RE.match(text):
        return ("%r is not a driver branch: use the three-digit branch number as a string, such as \"580\" "
                "(not a full version like 580.105.08, not \"latest\")" % (value,))
    if int(text) < OLDEST_BRANCH:
        return "%r is older than R%d, the oldest branch with a supported CUDA toolkit" % (value, OLDEST_BRANCH)
    return ""


def driver_version_error(value, branch=None):
    """Empty string when ``value`` is a full driver version (580.105.08) in ``branch`` (when given)."""
    text = str(value).strip()
    match = DRIVER_VERSION_RE.match(text)
    if not match:
        return "%r is not a driver version such as 580.105.08" % (value,)
    if branch and match.group(1) != str(branch):
        return "%s is not in branch %s" % (text, branch)
    return ""


def branch_of(version):
    """Branch number (int) of a driver version or branch string; None when unknown."""
    if version in (None, ""):
        return None
    match = re.match(r"^\s*([1-9][0-9]{2})(?:\.|$)", str(version))
    return int(match.group(1)) if match else None


def cuda_version(value):
    """'13.0', '13-0', '12.8.1', 12.8 -> (13, 0) / (12, 8). Raises ValueError otherwise."""
    text = str(value).strip()
    match = CUDA_VERSION_RE.match(text)
    if not match:
        raise ValueError("%r is not a CUDA version such as \"13.0\"" % (value,))
    return int(match.group(1)), int(match.group(2))


def checksum_error(value):
    """Empty string when ``value`` is a get_url checksum we accept ('sha256:<64 hex>')."""
    if not value:
        return "no checksum given"
    if not SHA256_RE.match(str(value).strip()):
        return "%r is not of the form sha256:<64 hex digits>" % (value,)
    return ""


def parse_nvcc_version(text):
    """`nvcc --version` output -> '13.0' ('' when it is not nvcc output)."""
    match = NVCC_RE.search(text or "")
    return match.group(1) if match else ""


def _strip_query(url):
    return str(url or "").split("?", 1)[0]


def runfile_driver_version(url):
    """Driver version from a runfile name such as NVIDIA-Linux-x86_64-580.105.08.run ('' when not found)."""
    match = RUNFILE_DRIVER_RE.search(_strip_query(url))
    return match.group(1) if match else ""


def runfile_cuda_version(url):
    """(CUDA X.Y, bundled driver) from cuda_13.0.2_580.95.05_linux.run; ('', '') when not found."""
    match = RUNFILE_CUDA_RE.search(_strip_query(url))
    return (match.group(1), match.group(2)) if match else ("", "")


def kernel_flavour(kernel):
    """Ubuntu kernel flavour: '6.8.0-45-generic' -> 'generic', '6.8.0-1015-nvidia-64k' -> 'nvidia-64k'."""
    match = re.match(r"^[0-9]+\.[0-9]+\.[0-9]+-[0-9]+-([a-z0-9-]+)$", str(kernel or ""))
    return match.group(1) if match else ""


def kernels_to_check(installed, running):
    """The running kernel and, when a newer one is installed (a reboot would boot it), that one too."""
    def key(name):
        return [int(part) if part.isdigit() else part for part in re.split(r"[.-]", str(name))]
    names = [str(n) for n in (installed or []) if re.match(r"^[0-9]+\.[0-9]+", str(n))]
    out = [str(running)]
    if names:
        newest = max(names, key=lambda n: (key(n), n))
        if newest != str(running) and key(newest) > key(running):
            out.append(newest)
    return out


# --- GPU state --------------------------------------------------------------------------------------------------

def _first(data, *keys):
    for key in keys:
        if isinstance(data, dict) and data.get(key) not in (None, ""):
            return data.get(key)
    return None


def _tri(value):
    """True/False/None from bool-ish values ('enabled', 'disabled', 'unknown', 1, 0 ...)."""
    if isinstance(value, bool) or value is None:
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on", "enabled"):
        return True
    if text in ("0", "false", "no", "off", "disabled", "unsupported"):
        return False
    return None


def gpu_state(info):
    """Normalise llmops.vllm_stack.gpu_info output (or an injected dict of the same shape) for the roles.

    Accepts the module result itself or a dict holding it under ``gpu_info``. Unknown values stay None so a role
    can tell "no" from "could not tell".
    """
    data = info if isinstance(info, dict) else {}
    if isinstance(data.get("gpu_info"), dict):
        data = data["gpu_info"]
    kdrv = data.get("kernel_driver") if isinstance(data.get("kernel_driver"), dict) else {}
    nvml = data.get("nvml") if isinstance(data.get("nvml"), dict) else {}
    gpus = data.get("gpus") if isinstance(data.get("gpus"), list) else []
    bound = data.get("gpus_bound_to") if isinstance(data.get("gpus_bound_to"), list) else []

    driver_version = str(_first(data, "driver_version") or _first(nvml, "driver_version")
                         or _first(kdrv, "version") or "")
    module_flavor = _first(kdrv, "kernel_module") or _first(data, "kernel_module_type")
    if module_flavor is not None:
        module_flavor = "open" if str(module_flavor).lower().startswith("open") else "proprietary"
    nvidia_loaded = _tri(data.get("nvidia_driver_loaded"))
    if nvidia_loaded is None:
        nvidia_loaded = bool(driver_version) or "nvidia" in bound
    pci_count = _first(data, "pci_gpu_count")
    count = _first(data, "gpu_count")
    try:
        pci_count = int(pci_count) if pci_count is not None else None
    except (TypeError, ValueError):
        pci_count = None
    try:
        count = int(count) if count is not None else (len(gpus) or pci_count or 0)
    except (TypeError, ValueError):
        count = len(gpus)
    present = _tri(data.get("nvidia_gpu_present"))
    if present is None:
        present = bool(count or pci_count)
    nvswitch = _tri(data.get("nvswitch_present"))
    if nvswitch is None:
        nvswitch = bool(_first(data, "nvswitch_count"))
    secure_boot = data.get("secure_boot")
    secure_boot = False if str(secure_boot).lower() == "unsupported" else _tri(secure_boot)
    return {
        "nvidia_gpu_present": bool(present),
        "gpu_count": count,
        "pci_gpu_count": pci_count,
        "nvml_available": bool(nvml.get("available")) if nvml else None,
        "nvml_gpu_count": len(gpus) if nvml.get("available") else None,
        "nouveau_loaded": bool(_tri(data.get("nouveau_loaded"))),
        "nvidia_driver_loaded": bool(nvidia_loaded),
        "gpus_bound_to": sorted(str(b) for b in bound),
        "nvidia_bound": "nvidia" in bound,
        "driver_version": driver_version,
        "driver_branch": branch_of(driver_version),
        "kernel_module_type": module_flavor,
        "cuda_driver_version": str(_first(data, "cuda_driver_version") or _first(nvml, "cuda_driver_version") or ""),
        "secure_boot": secure_boot,
        "nvswitch_present": bool(nvswitch),
        "gpu_names": sorted({str(g.get("name")) for g in gpus if isinstance(g, dict) and g.get("name")}),
    }


def gpus_visible(state):
    """Every GPU on the PCI bus answers through the driver (NVML count when known, else the driver's count)."""
    pci = state.get("pci_gpu_count")
    seen = state.get("nvml_gpu_count")
    if seen is None:
        seen = state.get("gpu_count")
    if not pci:  # sysfs not readable (some sandboxes): only require that the driver sees at least one GPU
        return bool(seen)
    return seen is not None and seen >= pci


# --- repositories -----------------------------------------------------------------------------------------------

def os_family_key(os_family, distribution=""):
    """'Debian' for Debian/Ubuntu, 'RedHat' for the EL family, '' otherwise."""
    if os_family == "Debian" or distribution in ("Debian", "Ubuntu"):
        return "Debian"
    if os_family == "RedHat" or distribution in REDHAT_LIKE:
        return "RedHat"
    return ""


def cuda_repo(distribution, version, architecture, base_url, os_family=""):
    """NVIDIA CUDA network repository for a host. Raises ValueError with the reason when there is none."""
    family = os_family_key(os_family, distribution)
    dist = "RedHat" if family == "RedHat" else distribution
    ver = str(version)
    if dist in ("RedHat", "Debian"):
        ver = ver.split(".", 1)[0]
    distro = CUDA_REPO_DISTROS.get((dist, ver))
    if distro is None:
        raise ValueError("%s %s has no NVIDIA CUDA repository in this collection's data (supported: %s)" % (
            distribution, version, ", ".join(sorted(set(CUDA_REPO_DISTROS.values())))))
    arch = CUDA_REPO_ARCH.get(str(architecture))
    if arch is None:
        raise ValueError("architecture %s has no NVIDIA CUDA repository (x86_64, aarch64/sbsa)" % architecture)
    base = str(base_url or "").rstrip("/")
    if not re.match(r"^(https?|file)://", base):
        raise ValueError("%r is not an http(s):// or file:// base URL" % (base_url,))
    url = "%s/%s/%s/" % (base, distro, arch)
    return {"distro": distro, "arch": arch, "url": url, "key_url": url + CUDA_REPO_KEY[family],
            "key_fingerprint": CUDA_REPO_KEY_FINGERPRINT[family], "family": family,
            "name": "cuda-%s-%s" % (distro, arch)}


# --- compatibility ----------------------------------------------------------------------------------------------

def cuda_driver_check(cuda, driver_version="", driver_branch="", driver_cuda="", policy="ga"):
    """Can a CUDA ``cuda`` toolkit run on this driver?

    ``driver_version`` (580.159.04) is preferred, then ``driver_branch`` (580, e.g. a branch being installed),
    then ``driver_cuda`` (the highest CUDA the running driver reports, e.g. "13.0"). ``policy`` ``ga`` requires the
    toolkit's GA minimum driver; ``minor`` accepts CUDA minor-version compatibility (same major, reduced features).
    Returns {ok: True/False/None, minimum_driver, minimum_branch, reason}; ok None means nothing was known.
    """
    major, minor = cuda_version(cuda)
    if major not in CUDA_MAJOR_MIN_DRIVER:
        return {"ok": False, "minimum_driver": "", "minimum_branch": None,
                "reason": "CUDA %d.x is not in the compatibility table (known: %s)" % (
                    major, ", ".join("%d.x" % m for m in sorted(CUDA_MAJOR_MIN_DRIVER)))}
    if policy == "minor":
        minimum = CUDA_MAJOR_MIN_DRIVER[major]
        rule = "CUDA %d.x minor-version compatibility" % major
    else:
        minimum = CUDA_GA_MIN_DRIVER.get((major, minor), "")
        rule = "the CUDA %d.%d GA release" % (major, minor)
        if not minimum:
            # a minor release newer than the table: fall back to the highest known minimum of that major
            known = [v for (ma, mi), v in CUDA_GA_MIN_DRIVER.items() if ma == major and mi <= minor]
            minimum = max(known, key=version_tuple) if known else CUDA_MAJOR_MIN_DRIVER[major]
            rule = "CUDA %d.%d (newer than the table; at least the minimum of CUDA %d.%d)" % (
                major, minor, major, max(mi for (ma, mi) in CUDA_GA_MIN_DRIVER if ma == major and mi <= minor))
    min_branch = branch_of(minimum)
    result = {"ok": None, "minimum_driver": minimum, "minimum_branch": min_branch, "reason": ""}
    if driver_version:
        have = version_tuple(driver_version)
        ok = have >= version_tuple(minimum)
        seen = "driver %s" % driver_version
    elif driver_branch:
        ok = int(str(driver_branch)) >= min_branch
        seen = "driver branch %s" % driver_branch
    elif driver_cuda:
        ok = cuda_version(driver_cuda) >= (major, minor if policy != "minor" else 0)
        seen = "a driver that supports CUDA %s" % driver_cuda
    else:
        result["reason"] = "no driver version known to check CUDA %d.%d against" % (major, minor)
        return result
    result["ok"] = ok
    if ok:
        result["reason"] = "%s meets %s (>= %s)" % (seen, rule, minimum)
    else:
        result["reason"] = "%s is older than %s needs: NVIDIA driver >= %s (branch R%d or newer)" % (
            seen, rule, minimum, min_branch)
    return result


# --- runfiles ---------------------------------------------------------------------------------------------------

def driver_runfile_args(options, module_type, branch, nouveau_loaded=False, signing_key="", signing_cert="",
                        kernel_source_path=""):
    """Argument list for NVIDIA-Linux-*.run after the data options (e.g. ['--silent', '--dkms'])."""
    args = [str(o) for o in (options or [])]
    branch = int(branch)
    flavour = [a for a in args if a.startswith("--kernel-module-type") or a.startswith("-m=")]
    if not flavour:
        if branch >= MODULE_TYPE_OPTION_FROM:
            args.append("--kernel-module-type=%s" % module_type)
        elif module_type == "open":
            args.append("-m=kernel-open")
    if nouveau_loaded and "--no-nouveau-check" not in args and "--disable-nouveau" not in args:
        # the nouveau role blacklists it; the installer must not refuse because it is still loaded until reboot
        args.append("--no-nouveau-check")
    if signing_key:
        args.append("--module-signing-secret-key=%s" % signing_key)
        args.append("--module-signing-public-key=%s" % signing_cert)
    if kernel_source_path:
        args.append("--kernel-source-path=%s" % kernel_source_path)
    return args


def cuda_runfile_args(options, toolkit_path=""):
    """Argument list for cuda_*_linux.run (toolkit only) after the data options."""
    args = [str(o) for o in (options or [])]
    if "--driver" in args:
        raise ValueError("--driver in the CUDA runfile options would install a second driver; "
                         "the nvidia_driver role owns the driver")
    if toolkit_path and not any(a.startswith("--toolkitpath") for a in args):
        args.append("--toolkitpath=%s" % toolkit_path)
    return args


# --- plans (one per role) ---------------------------------------------------------------------------------------

def _runfile_input_errors(role, url, checksum):
    """What is wrong with <role>_runfile_url / <role>_runfile_checksum (both roles run runfiles the same way)."""
    errors = []
    if not url:
        errors.append("%s_method=runfile needs %s_runfile_url (an http(s):// URL, or a file:// path on the host for "
                      "offline installs)." % (role, role))
    elif not re.match(r"^(https?|file)://", url):
        errors.append("%s_runfile_url=%r: use an http(s):// or file:// URL." % (role, url))
    cerr = checksum_error(checksum)
    if cerr:
        errors.append("%s_runfile_checksum: %s — a runfile is never run unverified; set it to sha256:<digest> "
                      "(NVIDIA publishes the digests next to the download)." % (role, cerr))
    return errors


def _secure_boot_path(p, family, build, gpu):
    """How the NVIDIA module gets loaded under Secure Boot, and what is missing when it cannot."""
    sb = gpu.get("secure_boot")
    if not sb:
        return {"enabled": sb, "path": "off" if sb is False else "unknown", "ok": True, "steps": []}
    if p.get("method") == "runfile":
        if p.get("runfile_signing_key") and p.get("runfile_signing_cert"):
            return {"enabled": True, "path": "runfile-signed", "ok": True, "steps": []}
        return {"enabled": True, "path": "runfile-unsigned", "ok": False, "steps": [
            "nvidia_driver_method=runfile with Secure Boot on needs nvidia_driver_runfile_signing_key and "
            "nvidia_driver_runfile_signing_cert (a private key and its DER certificate enrolled in MOK) — "
            "set both, or use nvidia_driver_method: package, or turn Secure Boot off in the firmware"]}
    if build == "precompiled":
        return {"enabled": True, "path": "precompiled-signed", "ok": True, "steps": []}
    mok_key = p.get("mok_key") or ""
    if p.get("mok_enrolled"):
        return {"enabled": True, "path": "dkms-mok", "ok": True, "steps": []}
    steps = [
        "Secure Boot is on and DKMS-built NVIDIA modules are signed with %s, which is not enrolled "
        "(mokutil --test-key). On the host: %s" % (
            mok_key or "the DKMS MOK key",
            "; ".join([
                "1) create the key if missing: %s" % (p.get("mok_create_hint") or "dkms generate_mok"),
                "2) mokutil --import %s (choose a one-time password)" % (mok_key or "<key.der>"),
                "3) reboot and, on the console, pick 'Enroll MOK' and enter that password",
                "4) run this playbook again"])),
    ]
    if family == "Debian" and p.get("distribution") == "Ubuntu":
        steps.append("Or set nvidia_driver_kernel_module_build: precompiled to use Canonical-signed modules")
    return {"enabled": True, "path": "dkms-unenrolled", "ok": False, "steps": steps}


def driver_plan(p):
    """Decide what the nvidia_driver role does. ``p`` holds the role's inputs (see the role's preflight)."""
    errors, warnings = [], []
    gpu = gpu_state(p.get("gpu") or {})
    family = os_family_key(p.get("os_family"), p.get("distribution"))
    out = {"errors": errors, "warnings": warnings, "gpu": gpu, "family": family}

    berr = branch_error(p.get("branch"))
    if berr:
        errors.append("nvidia_driver_branch=%r: %s." % (p.get("branch"), berr))
        return out
    branch = int(str(p.get("branch")).strip())
    out["branch"] = str(branch)
    module_type = p.get("module_type") or "open"
    method = p.get("method") or "package"
    if module_type == "open" and branch < OPEN_MODULES_FROM:
        errors.append("nvidia_driver_kernel_module_type=open: R%d has no open kernel modules (from R%d) — "
                      "use proprietary or a newer nvidia_driver_branch." % (branch, OPEN_MODULES_FROM))
    # what only matters when something has to be installed (the OS, its repository, the Secure Boot path)
    host_errors = []
    if not family:
        host_errors.append("nvidia_driver: %s (%s) is not supported for installs (Debian/Ubuntu and the RedHat "
                           "family are)." % (p.get("distribution"), p.get("os_family")))

    wanted_version = str(p.get("version") or "").strip()
    if method == "runfile":
        url = str(p.get("runfile_url") or "").strip()
        errors.extend(_runfile_input_errors("nvidia_driver", url, p.get("runfile_checksum")))
        if not wanted_version:
            wanted_version = runfile_driver_version(url)
        if url and not wanted_version:
            errors.append("nvidia_driver_version: cannot tell the driver version from nvidia_driver_runfile_url "
                          "%r — set nvidia_driver_version (e.g. %d.105.08)." % (url, branch))
        if bool(p.get("runfile_signing_key")) != bool(p.get("runfile_signing_cert")):
            errors.append("nvidia_driver_runfile_signing_key and nvidia_driver_runfile_signing_cert go together "
                          "(private key and DER certificate).")
    if wanted_version:
        verr = driver_version_error(wanted_version, branch)
        if verr:
            errors.append("nvidia_driver_version=%r: %s (nvidia_driver_branch=%s)." % (wanted_version, verr, branch))
    out["version"] = wanted_version

    # kernel module build: DKMS or precompiled (signed) modules
    build = p.get("build") or "auto"
    dist = p.get("distribution") or ""
    major = str(p.get("distribution_major_version") or "")
    el_precompiled = family == "RedHat" and major in ("8", "9") and module_type == "proprietary"
    precompiled_ok = dist == "Ubuntu" or el_precompiled
    if build == "auto":
        build = "precompiled" if (gpu.get("secure_boot") and dist == "Ubuntu" and method == "package") else "dkms"
    if method == "package" and build == "precompiled" and not precompiled_ok:
        host_errors.append("nvidia_driver_kernel_module_build=precompiled: no precompiled %s modules for %s %s "
                           "(Ubuntu: Canonical-signed linux-modules-nvidia-*; EL 8/9: proprietary module stream "
                           "'<branch>') — use dkms." % (module_type, dist, major))
    if method == "runfile":
        build = "dkms" if "--dkms" in (p.get("runfile_options") or []) else "runfile"
    out["build"] = build
    out["flavor"] = "%s_%s" % (module_type, "precompiled" if build == "precompiled" else "dkms")
    out["naming"] = "unsuffixed" if branch >= UNSUFFIXED_PACKAGES_FROM else "suffixed"
    out["flavour"] = kernel_flavour(p.get("kernel"))
    if family == "RedHat" and major in ("8", "9"):
        out["dnf_stream"] = "%d%s" % (branch, {"open_dkms": "-open", "proprietary_dkms": "-dkms"}.get(
            out["flavor"], ""))
    else:
        out["dnf_stream"] = ""

    if method == "package" and family and not (family == "Debian" and build == "precompiled"):
        try:
            out["repo"] = cuda_repo(dist, p.get("distribution_version") or major, p.get("architecture"),
                                    p.get("repo_base_url"), p.get("os_family"))
        except ValueError as exc:
            if p.get("repo_manage", True):
                host_errors.append("nvidia_driver_repo_base_url / host: %s — set nvidia_driver_repo_manage: false "
                                   "and provide the repository yourself." % exc)
            out["repo"] = {}
    else:
        out["repo"] = {}

    # Secure Boot
    sbp = _secure_boot_path(p, family, build, gpu)
    out["secure_boot"] = sbp
    if not sbp["ok"]:
        host_errors.extend(sbp["steps"])

    # what is there already
    loaded = gpu.get("driver_version") if gpu.get("nvidia_driver_loaded") else ""
    installed = str(p.get("installed_version") or "").strip()
    out["loaded_version"] = loaded or ""
    out["installed_version"] = installed

    def matches(version):
        return bool(version) and branch_of(version) == branch and (not wanted_version or version == wanted_version)

    if matches(loaded):
        out["present"], out["present_source"] = True, "loaded"
    elif matches(installed):
        out["present"], out["present_source"] = True, "installed"
    else:
        out["present"], out["present_source"] = False, ""
    loaded_type = gpu.get("kernel_module_type")
    if out["present"] and out["present_source"] == "loaded" and loaded_type and loaded_type != module_type:
        warnings.append("The loaded R%d driver uses %s kernel modules, nvidia_driver_kernel_module_type is %s: "
                        "switching flavours is not automated (remove the driver, then run again)." % (
                            branch, loaded_type, module_type))
    if loaded and not out["present"]:
        warnings.append("Driver %s is loaded; R%d%s will be installed and takes effect after a reboot." % (
            loaded, branch, (" (%s)" % wanted_version) if wanted_version else ""))
    out["other_branch_loaded"] = bool(loaded) and branch_of(loaded) != branch
    out["action"] = "none" if out["present"] else "install"
    if out["action"] == "install":
        errors.extend(host_errors)
    if method == "runfile" and not errors:
        out["runfile_args"] = driver_runfile_args(
            p.get("runfile_options"), module_type, branch, nouveau_loaded=gpu.get("nouveau_loaded"),
            signing_key=p.get("runfile_signing_key") or "", signing_cert=p.get("runfile_signing_cert") or "")
        name = _strip_query(p.get("runfile_url")).rstrip("/").rsplit("/", 1)[-1]
        out["runfile_name"] = name
    else:
        out["runfile_args"] = []
        out["runfile_name"] = ""
    if not gpu.get("nvidia_gpu_present"):
        warnings.append("No NVIDIA GPU was found on this host.")
    return out


def toolkit_plan(p):
    """Decide what the cuda_toolkit role does. ``p`` holds the role's inputs (see the role's preflight)."""
    errors, warnings = [], []
    gpu = gpu_state(p.get("gpu") or {})
    family = os_family_key(p.get("os_family"), p.get("distribution"))
    out = {"errors": errors, "warnings": warnings, "gpu": gpu, "family": family}
    try:
        major, minor = cuda_version(p.get("version"))
    except ValueError as exc:
        errors.append("cuda_toolkit_version=%r: %s." % (p.get("version"), str(exc)))
        return out
    ver = "%d.%d" % (major, minor)
    out.update({"version": ver, "package_suffix": "%d-%d" % (major, minor)})
    home = str(p.get("home") or "").strip() or "/usr/local/cuda-%s" % ver
    out["home"] = home
    method = p.get("method") or "package"
    # what only matters when something has to be installed (OS, repository, driver compatibility)
    host_errors = []
    if not family:
        host_errors.append("cuda_toolkit: %s (%s) is not supported for installs." % (
            p.get("distribution"), p.get("os_family")))
    if method == "runfile":
        url = str(p.get("runfile_url") or "").strip()
        errors.extend(_runfile_input_errors("cuda_toolkit", url, p.get("runfile_checksum")))
        rver, _bundled = runfile_cuda_version(url)
        if rver and rver != ver:
            errors.append("cuda_toolkit_runfile_url is CUDA %s but cuda_toolkit_version is %s." % (rver, ver))
        try:
            out["runfile_args"] = cuda_runfile_args(p.get("runfile_options"), home)
        except ValueError as exc:
            errors.append("cuda_toolkit_runfile_options: %s." % exc)
            out["runfile_args"] = []
        out["runfile_name"] = _strip_query(url).rstrip("/").rsplit("/", 1)[-1]
    else:
        out["runfile_args"], out["runfile_name"] = [], ""
    out["repo"] = {}
    if method == "package" and family:
        try:
            out["repo"] = cuda_repo(p.get("distribution"), p.get("distribution_version")
                                    or p.get("distribution_major_version"), p.get("architecture"),
                                    p.get("repo_base_url"), p.get("os_family"))
        except ValueError as exc:
            if p.get("repo_manage", True):
                host_errors.append("cuda_toolkit_repo_base_url / host: %s — set cuda_toolkit_repo_manage: false "
                                   "and provide the repository yourself." % exc)

    # driver compatibility, checked before anything is installed
    explicit = str(p.get("driver_version") or "").strip()
    planned = str(p.get("planned_driver_branch") or "").strip()
    loaded = gpu.get("driver_version") if gpu.get("nvidia_driver_loaded") else ""
    reboot_pending = bool(p.get("driver_reboot_pending"))
    source = ""
    kwargs = {}
    if explicit:
        kwargs = {"driver_version": explicit} if "." in explicit else {"driver_branch": explicit}
        source = "cuda_toolkit_driver_version"
    elif planned and (reboot_pending or not loaded):
        kwargs, source = {"driver_branch": planned}, "the branch nvidia_driver installed (reboot pending)"
    elif loaded:
        kwargs, source = {"driver_version": loaded}, "the loaded driver"
    elif gpu.get("cuda_driver_version"):
        kwargs, source = {"driver_cuda": gpu["cuda_driver_version"]}, "the driver's CUDA version"
    check = cuda_driver_check(ver, policy=p.get("compat") or "ga", **kwargs)
    check["source"] = source
    out["driver_check"] = check
    if p.get("driver_check", True):
        if check["ok"] is False:
            host_errors.append(
                "cuda_toolkit_version=%s is newer than the driver allows: %s (checked against %s). Install NVIDIA "
                "driver >= %s (nvidia_driver_branch: \"%s\" or newer), or choose an older cuda_toolkit_version."
                % (ver, check["reason"], source, check["minimum_driver"], check["minimum_branch"]))
        elif check["ok"] is None:
            host_errors.append(
                "cuda_toolkit_version=%s: no NVIDIA driver found to check it against (needs >= %s). Run the "
                "nvidia_driver role first, set cuda_toolkit_driver_version for a host prepared elsewhere, or set "
                "cuda_toolkit_driver_check: false for a build-only host." % (ver, check["minimum_driver"]))
    present = str(p.get("installed_version") or "").strip()
    out["installed_version"] = present
    out["present"] = present == ver
    out["action"] = "none" if out["present"] else "install"
    if out["action"] == "install":
        errors.extend(host_errors)
    else:
        warnings.extend(host_errors)
    return out
