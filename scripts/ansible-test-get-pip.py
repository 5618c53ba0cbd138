"""Stand-in for ansible-test's pip bootstrap script (get-pip.py), which it downloads from a host that CI here
cannot reach. Same contract: install pip (then the requested packages) into the running interpreter, taking
get-pip's own --no-setuptools/--no-wheel switches. Uses the stdlib's bundled pip, then PyPI.

ansible-test runs pip with PIP_CONFIG_FILE=/dev/null and a scrubbed environment, so the host's pip settings
(CA bundle of the TLS-intercepting proxy, find-links) are written to the venv's pip.conf and PIP_CONFIG_FILE is
pointed at it for this call; later pip calls in the venv get the same through sitecustomize (below)."""
import ensurepip
import os
import subprocess
import sys

conf = ["[global]", "disable-pip-version-check = true"]
for cert in (os.environ.get("PIP_CERT"), os.environ.get("REQUESTS_CA_BUNDLE"), "/etc/ssl/certs/ca-certificates.crt"):
    if cert and os.path.isfile(cert):
        conf.append("cert = " + cert)
        break
if os.path.isdir("/opt/wheels"):
    conf.append("find-links = /opt/wheels")
with open(os.path.join(sys.prefix, "pip.conf"), "w", encoding="utf-8") as handle:
    handle.write("\n".join(conf) + "\n")

os.environ["PIP_CONFIG_FILE"] = os.path.join(sys.prefix, "pip.conf")
# ansible-test's later `pip install -r ...` calls in this venv also run with PIP_CONFIG_FILE=/dev/null:
# a sitecustomize in the venv re-points pip at the venv's config file.
site = subprocess.check_output([sys.executable, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True).strip()
with open(os.path.join(site, "sitecustomize.py"), "w", encoding="utf-8") as handle:
    handle.write("import os, sys\nif os.environ.get('PIP_CONFIG_FILE') == os.devnull:\n"
                 "    os.environ['PIP_CONFIG_FILE'] = os.path.join(sys.prefix, 'pip.conf')\n")

args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
ensurepip.bootstrap(upgrade=True)
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install"] + args))
