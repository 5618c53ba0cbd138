"""vllm_services entries -> argv / environment / problems (the vllm role's contract)."""
import shlex

import pytest

from ansible_collections.llmops.vllm_stack.plugins.module_utils import _vllm_service as s

KEY = "k" * 24
PY = "/opt/llmops/venv/bin/python"


def seed000_fixed():
    return [
        {"name": "chat", "model": "/data/models/DeepSeek-R1-Distill-Qwen-32B", "served_model_name": "deepseek-r1",
         "port": 8000, "gpus": [0, 1], "tensor_parallel_size": 2, "gpu_memory_utilization": 0.9,
         "max_model_len": 16384, "extra_args": {"reasoning-parser": "deepseek_r1"}},
        {"name": "embed", "model": "/data/models/bge-m3", "task": "embed", "port": 8001, "gpus": [3],
         "gpu_memory_utilization": 0.3},
        {"name": "rerank", "model": "/data/models/bge-reranker-v2-m3", "task": "score", "port": 8002, "gpus": [3],
         "gpu_memory_utilization": 0.3},
    ]


def test_well_formed_plan_has_no_problems():
    assert s.problems(seed000_fixed(), "gpu", KEY) == []


def test_chat_argv_has_parallelism_and_no_secret():
    svc = dict(seed000_fixed()[0], api_key="supersecretkey-1234567890")
    argv = s.argv(svc, PY, "gpu")
    assert argv[:3] == [PY, "-m", "vllm.entrypoints.openai.api_server"]
    assert argv[argv.index("--tensor-parallel-size") + 1] == "2"
    assert argv[argv.index("--gpu-memory-utilization") + 1] == "0.9"
    assert argv[argv.index("--reasoning-parser") + 1] == "deepseek_r1"
    assert "--runner" not in argv
    assert not any("supersecret" in a for a in argv)
    assert "--api-key" not in argv


@pytest.mark.parametrize("task,runner", [("embed", "pooling"), ("score", "pooling"), ("chat", None)])
def test_task_maps_to_runner(task, runner):
    argv = s.argv({"name": "x", "model": "/m", "port": 1, "task": task}, PY)
    if runner:
        assert argv[argv.index("--runner") + 1] == runner
    else:
        assert "--runner" not in argv


def test_cpu_profile_drops_gpu_only_flags():
    svc = dict(seed000_fixed()[0])
    argv = s.argv(svc, PY, "cpu")
    assert "--tensor-parallel-size" not in argv and "--gpu-memory-utilization" not in argv
    assert argv[argv.index("--max-model-len") + 1] == "16384"


def test_extra_args_bool_and_json():
    svc = {"name": "x", "model": "/m", "port": 1,
           "extra_args": {"enable-prefix-caching": True, "disable-log-stats": False,
                          "hf-overrides": {"architectures": ["BgeM3EmbeddingModel"]}}}
    argv = s.argv(svc, PY)
    assert "--enable-prefix-caching" in argv
    assert "--disable-log-stats" not in argv
    assert argv[argv.index("--hf-overrides") + 1] == '{"architectures":["BgeM3EmbeddingModel"]}'


def test_systemd_quote_round_trips_through_shell_rules():
    args = [PY, "--hf-overrides", '{"a":"b c"}', "--chat-template", "/x/%i $HOME.jinja"]
    quoted = s.systemd_quote(args)
    assert "%%i" in quoted and "$$HOME" in quoted
    # systemd unquoting matches POSIX double-quote rules for these characters
    assert shlex.split(quoted.replace("%%", "%").replace("$$", "$")) == args


def test_environment_has_key_and_gpus_and_file_escapes():
    svc = dict(seed000_fixed()[0], env={"NCCL_SOCKET_IFNAME": "eth0"})
    env = s.environment(svc, "gpu", KEY, {"VLLM_LOGGING_LEVEL": "INFO"})
    assert env["VLLM_API_KEY"] == KEY
    assert env["CUDA_VISIBLE_DEVICES"] == "0,1"
    assert env["HF_HUB_OFFLINE"] == "1"
    assert env["NCCL_SOCKET_IFNAME"] == "eth0"
    text = s.env_file({"A": 'x"y\\z'})
    assert text == 'A="x\\"y\\\\z"\n'


def _vars(problems):
    return sorted(p["variable"] for p in problems)


def test_issue_bad_inputs_all_reported_at_once():
    plan = seed000_fixed()
    plan[1]["port"] = 8000                      # two services on one port
    plan[2]["task"] = "rerank"                  # unknown task
    plan[0]["tensor_parallel_size"] = 2.5       # non-integer TP
    plan[0]["api_key"] = "short"                # key < 16 chars
    probs = s.problems(plan, "gpu", KEY)
    assert _vars(probs) == ["vllm_services[0].api_key", "vllm_services[0].tensor_parallel_size",
                            "vllm_services[1].port", "vllm_services[2].task"]
    by_var = {p["variable"]: p for p in probs}
    assert "also used by vllm_services[0]" in by_var["vllm_services[1].port"]["message"]
    assert "score" in by_var["vllm_services[2].task"]["fix"]


def test_missing_model_without_download_is_refused_but_download_target_is_fine():
    plan = seed000_fixed()
    present = {"/data/models/DeepSeek-R1-Distill-Qwen-32B": True, "/data/models/bge-m3": False,
               "/data/models/bge-reranker-v2-m3": False}
    probs = s.problems(plan, "gpu", KEY, present, {"/data/models/bge-reranker-v2-m3"})
    assert _vars(probs) == ["vllm_services[1].model"]
    assert "model_download_models" in probs[0]["fix"]


def test_key_as_flag_refused_and_empty_key_refused():
    plan = seed000_fixed()[:1]
    plan[0]["extra_args"] = {"api-key": "x" * 20}
    probs = s.problems(plan, "gpu", "")
    assert _vars(probs) == ["vllm_services[0].api_key", "vllm_services[0].extra_args"]


def test_gpu_profile_needs_gpus_cpu_does_not():
    plan = [{"name": "tiny", "model": "/m", "port": 8000}]
    assert _vars(s.problems(plan, "gpu", KEY)) == ["vllm_services[0].gpus"]
    assert s.problems(plan, "cpu", KEY) == []


def test_names_and_unknown_keys():
    plan = [{"name": "Chat_1", "model": "/m", "port": 1, "tensor_parallel": 2},
            {"name": "ok", "model": "/m", "port": 2}, {"name": "ok", "model": "/m", "port": 3}]
    assert _vars(s.problems(plan, "cpu", KEY)) == ["vllm_services[0]", "vllm_services[0].name",
                                                   "vllm_services[2].name"]
