# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run the model_download role on localhost against the fake hub: check mode, download, re-run, corruption,
offline. Exits non-zero on the first unexpected recap.

    .venv/bin/python tests/support/model_download_role_e2e.py [--fresh-venv]

``--fresh-venv`` creates a bare venv and lets the role pip-install the clients into it (needs PyPI or a mirror);
without it the role uses .venv (which already has them) with model_download_pip_install=false.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

from fake_hub import FakeHub, tiny_model_files  # noqa: E402  pylint: disable=wrong-import-position

PLAY = """- name: model_download role against the fake hub
  hosts: localhost
  gather_facts: false
  roles:
    - role: llmops.vllm_stack.model_download
"""


def recap(output):
    match = re.search(r"localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", output)
    if not match:
        raise SystemExit(f"no PLAY RECAP in the output:\n{output[-3000:]}")
    return {"ok": int(match.group(1)), "changed": int(match.group(2)), "failed": int(match.group(4))}


def play(work, extra_vars, check=False):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               PATH=os.path.join(ROOT, ".venv", "bin") + os.pathsep + os.environ.get("PATH", ""))
    cmd = ["ansible-playbook", "-i", "localhost,", "-c", "local", "-e",
           f"ansible_python_interpreter={sys.executable}", "-e", "@" + extra_vars, os.path.join(work, "play.yml")]
    if check:
        cmd.append("--check")
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    return proc.stdout + proc.stderr


def main():
    fresh = "--fresh-venv" in sys.argv
    work = tempfile.mkdtemp(prefix="llmops-model-download-e2e-")
    with open(os.path.join(work, "play.yml"), "w", encoding="utf-8") as handle:
        handle.write(PLAY)
    files = tiny_model_files()
    with FakeHub(token="hf_e2e_secret_value_123456") as hub:
        hub.add_repo("acme/tiny", files, "main")
        hub.add_repo("acme/tiny-ms", files, "master")
        venv = os.path.join(work, "venv") if fresh else os.path.join(ROOT, ".venv")
        if fresh:
            subprocess.run(["/usr/bin/python3", "-m", "venv", venv], check=True)
        models = os.path.join(work, "models")
        settings = {
            "model_download_venv": venv, "model_download_pip_install": fresh, "model_download_min_free_bytes": 0,
            "model_download_token": hub.token, "model_download_endpoint_huggingface": hub.url,
            "model_download_endpoint_modelscope": hub.url,
            "model_download_models": [
                {"repo_id": "acme/tiny", "source": "huggingface", "revision": "main",
                 "local_dir": f"{models}/tiny", "ignore_patterns": ["original/*"]},
                {"repo_id": "acme/tiny-ms", "revision": "master", "local_dir": f"{models}/tiny-ms",
                 "allow_patterns": ["*.json", "*.safetensors"]},
            ],
        }
        extra = os.path.join(work, "vars.json")
        with open(extra, "w", encoding="utf-8") as handle:
            json.dump(settings, handle)
        steps = []

        def step(name, expect_changed, expect_failed=0, check=False, **override):
            path = extra
            if override:
                path = os.path.join(work, f"vars-{len(steps)}.json")
                with open(path, "w", encoding="utf-8") as handle:
                    json.dump(dict(settings, **override), handle)
            output = play(work, path, check=check)
            got = recap(output)
            steps.append((name, got))
            if hub.token in output:
                raise SystemExit(f"{name}: the token appears in the output")
            changed_ok = expect_changed is None or (got["changed"] > 0) == expect_changed
            if (got["failed"] > 0) != bool(expect_failed) or not changed_ok:
                raise SystemExit(f"{name}: unexpected recap {got}\n{output[-4000:]}")
            print(f"{name:55s} {got}")
            return output

        step("check mode on a fresh host", expect_changed=True, check=True)
        if os.path.exists(models) and any(os.listdir(os.path.join(models, d)) for d in os.listdir(models)):
            raise SystemExit("check mode wrote files")
        step("download", expect_changed=True)
        step("re-run (idempotence)", expect_changed=False)
        step("check mode after a download", expect_changed=False, check=True)
        with open(os.path.join(models, "tiny-ms", "model-00001-of-00002.safetensors"), "r+b") as handle:
            handle.truncate(100)
        hub.reset_log()
        step("truncated shard is fetched again", expect_changed=True)
        fetched = hub.content_paths()
        if fetched != ["model-00001-of-00002.safetensors"]:
            raise SystemExit(f"expected only the truncated shard to be fetched, got {fetched}")
        hub.reset_log()
        step("offline verify (full)", expect_changed=False, model_download_offline=True, model_download_verify="full")
        if hub.requests:
            raise SystemExit(f"offline run contacted the hub: {hub.requests}")
        os.unlink(os.path.join(models, "tiny", "config.json"))
        step("offline with a missing file fails", expect_changed=None, expect_failed=1, model_download_offline=True)
    print(f"all {len(steps)} steps as expected ({work})")


if __name__ == "__main__":
    main()
