# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""STAND-IN for vLLM's OpenAI server (the real vllm/vllm-openai image cannot be pulled here): takes the same
command line the vllm role passes, enforces VLLM_API_KEY on /v1/* like vLLM, and reports what the container got
(argv, whether the model directory is read-only, which environment names it sees) on /standin."""
import argparse
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def parse():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--served-model-name", required=True)
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=8000)
    args, unused = parser.parse_known_args()
    return args


def model_dir_read_only(path):
    try:
        with open(os.path.join(path, ".standin-write-test"), "w", encoding="utf-8") as handle:
            handle.write("x")
    except OSError:
        return True
    os.unlink(os.path.join(path, ".standin-write-test"))
    return False


ARGS = parse()
KEY = os.environ.get("VLLM_API_KEY", "")
STATE = {"argv": sys.argv[1:], "model_read_only": model_dir_read_only(ARGS.model),
         "model_config": os.path.exists(os.path.join(ARGS.model, "config.json")),
         "env_names": sorted(os.environ), "uid": os.getuid(), "home_writable": os.access(os.environ.get("HOME", "/"), os.W_OK)}


class Handler(BaseHTTPRequestHandler):
    def reply(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def authorized(self):
        return not self.path.startswith("/v1") or self.headers.get("Authorization") == "Bearer " + KEY

    def do_GET(self):
        if self.path == "/health":
            return self.reply(200, {})
        if self.path == "/standin":
            return self.reply(200, STATE)
        if not self.authorized():
            return self.reply(401, {"error": "Unauthorized"})
        if self.path == "/v1/models":
            return self.reply(200, {"object": "list", "data": [{"id": ARGS.served_model_name, "object": "model",
                                                                "root": ARGS.model}]})
        return self.reply(404, {})

    def do_POST(self):
        if not self.authorized():
            return self.reply(401, {"error": "Unauthorized"})
        length = int(self.headers.get("Content-Length", "0"))
        request = json.loads(self.rfile.read(length) or b"{}")
        if self.path == "/v1/chat/completions":
            return self.reply(200, {"id": "standin", "object": "chat.completion", "created": int(time.time()),
                                    "model": request.get("model"),
                                    "choices": [{"index": 0, "finish_reason": "stop",
                                                 "message": {"role": "assistant", "content": "Hello (stand-in)."}}],
                                    "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}})
        return self.reply(404, {})

    def log_message(self, *args):
        sys.stderr.write("standin: " + (args[0] % args[1:]) + "\n")


if __name__ == "__main__":
    print("standin vLLM server: %s" % json.dumps(STATE["argv"]), flush=True)
    ThreadingHTTPServer((ARGS.host, ARGS.port), Handler).serve_forever()
