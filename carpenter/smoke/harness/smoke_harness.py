"""Carpenter smoke harness: a tiny LoRA fine-tune run with the image's own libraries.

Runs inside the submission's image (mounted read-only) or directly on a machine (bench/).
It must work unchanged on Python >= 3.8, torch >= 1.13, transformers 4.31-5.x, peft 0.4-0.21,
so it uses only APIs present in all of them (see docs/notes/issue-6.md for the drift list).
It never installs anything and never touches the network. It prints exactly one line
starting with RESULT_MARKER followed by a JSON object, and exits 0 (all checks passed) or 1.
"""

import argparse
import importlib
import importlib.util
import json
import math
import os
import platform
import shutil
import sys
import tempfile
import time
import traceback

HARNESS_VERSION = 1
RESULT_MARKER = "CARPENTER_SMOKE_RESULT "
T0 = time.time()

# Must be set before torch initialises CUDA or OpenMP.
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REQUIRED = ("torch", "transformers", "peft")
OPTIONAL = ("tokenizers", "bitsandbytes", "accelerate", "safetensors")

SENTENCES = [
    "the cat sat on the mat.",
    "the dog sat on the log.",
    "a bird sang in the tree.",
    "the cat saw the bird.",
    "a dog ran to the park.",
    "the sun is warm today.",
    "we read a book at night.",
    "the cat sat on the mat again.",
]
PROMPT = "the cat"
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
SPECIALS = ["<pad>", "<s>", "</s>", "<unk>"]


class Result(object):
    """Collects checks, timings and facts; serialised once at the end."""

    def __init__(self):
        self.data = {
            "harness_version": HARNESS_VERSION,
            "status": "error",
            "versions": {},
            "device": None,
            "tokenizer": None,
            "trainable_params": None,
            "losses": [],
            "checks": [],
            "timings": {},
            "missing": [],
            "peak_rss_mb": None,
        }
        self.cleanup = []  # folders this run created and must remove

    def check(self, name, passed, detail, skipped=False, value=None):
        entry = {"name": name, "status": "skip" if skipped else ("pass" if passed else "fail"),
                 "detail": detail}
        if value is not None:
            entry["value"] = value
        self.data["checks"].append(entry)
        return passed

    def timing(self, phase, start):
        self.data["timings"][phase] = round(time.time() - start, 3)

    def failed(self):
        return any(c["status"] == "fail" for c in self.data["checks"])


def short_error(exc):
    """The exception line plus the innermost frame: enough to locate API drift."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = ""
    if frames:
        last = frames[-1]
        where = " (at %s:%d in %s)" % (os.path.basename(last.filename), last.lineno, last.name)
    text = "%s: %s" % (type(exc).__name__, exc)
    if len(text) > 400:
        text = text[:400] + "..."
    return text + where


def installed_version(name):
    """Version from package metadata without importing (bitsandbytes imports are slow)."""
    try:
        from importlib import metadata
    except ImportError:  # pragma: no cover - Python < 3.8
        return "unknown"
    try:
        return metadata.version(name)
    except Exception:
        return "unknown"


def import_required(result, name, versions, modules):
    try:
        module = importlib.import_module(name)
    except Exception as exc:  # a broken install is a finding, not a crash
        versions[name] = "broken"
        result.check("import " + name, False,
                     "%s is installed but fails to import: %s" % (name, short_error(exc)))
        return
    modules[name] = module
    versions[name] = getattr(module, "__version__", None) or installed_version(name)
    result.check("import " + name, True, "%s %s" % (name, versions[name]))


def probe_versions(result):
    """Which libraries are installed and importable, with versions; records missing ones.

    Required libraries are imported; optional ones are only looked up (tokenizers is imported
    later when the tokenizer is built, bitsandbytes only on a GPU run).
    """
    versions = {"python": platform.python_version()}
    modules = {}
    for name in REQUIRED + OPTIONAL:
        if importlib.util.find_spec(name) is None:
            versions[name] = None
            if name in REQUIRED:
                result.data["missing"].append(name)
                result.check("import " + name, False, "image lacks %s (not installed)" % name)
        elif name in REQUIRED:
            import_required(result, name, versions, modules)
        else:
            versions[name] = installed_version(name)
    torch = modules.get("torch")
    if torch is not None:
        versions["cuda"] = getattr(torch.version, "cuda", None)
        try:
            versions["cuda_available"] = bool(torch.cuda.is_available())
        except Exception:
            versions["cuda_available"] = False
    result.data["versions"] = versions
    return modules


def seed_everything(torch, transformers, seed):
    import random

    random.seed(seed)
    torch.manual_seed(seed)
    if hasattr(transformers, "set_seed"):
        transformers.set_seed(seed)


class CharTokenizer(object):
    """Fallback when `tokenizers` is absent or its API surprises us: one id per character."""

    def __init__(self, texts):
        chars = sorted(set("".join(texts)))
        self.itos = list(SPECIALS) + chars
        self.stoi = dict((c, i) for i, c in enumerate(self.itos))
        self.pad_token_id, self.bos_token_id, self.eos_token_id = 0, 1, 2

    def __len__(self):
        return len(self.itos)

    def encode(self, text):
        return [self.bos_token_id] + [self.stoi.get(c, 3) for c in text]

    def decode(self, ids):
        return "".join(self.itos[i] for i in ids if i >= len(SPECIALS))


class HFTokenizer(object):
    """A byte-level BPE trained in code, used through PreTrainedTokenizerFast."""

    def __init__(self, texts):
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
        from transformers import PreTrainedTokenizerFast

        tok = Tokenizer(models.BPE(unk_token="<unk>"))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=list(SPECIALS),
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                      show_progress=False)
        tok.train_from_iterator(texts, trainer=trainer)
        self.fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>",
                                            bos_token="<s>", eos_token="</s>",
                                            unk_token="<unk>")
        self.pad_token_id = self.fast.pad_token_id
        self.bos_token_id = self.fast.bos_token_id
        self.eos_token_id = self.fast.eos_token_id

    def __len__(self):
        return len(self.fast)

    def encode(self, text):
        return [self.bos_token_id] + list(self.fast(text)["input_ids"])

    def decode(self, ids):
        return self.fast.decode([int(i) for i in ids], skip_special_tokens=True)


def make_tokenizer(versions):
    if versions.get("tokenizers"):
        try:
            return HFTokenizer(SENTENCES), "bpe (tokenizers %s)" % versions["tokenizers"]
        except Exception as exc:
            return CharTokenizer(SENTENCES), "char (bpe failed: %s)" % short_error(exc)
    return CharTokenizer(SENTENCES), "char (tokenizers not installed)"


def make_batch(torch, tokenizer, device):
    """Right-padded batch; padding positions get label -100 so they never count."""
    rows = [tokenizer.encode(s) + [tokenizer.eos_token_id] for s in SENTENCES]
    width = max(len(r) for r in rows)
    ids, mask = [], []
    for r in rows:
        pad = width - len(r)
        ids.append(r + [tokenizer.pad_token_id] * pad)
        mask.append([1] * len(r) + [0] * pad)
    input_ids = torch.tensor(ids, dtype=torch.long, device=device)
    attention_mask = torch.tensor(mask, dtype=torch.long, device=device)
    labels = input_ids.clone()
    labels[attention_mask == 0] = -100
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}


def make_model(transformers, tokenizer):
    config = transformers.LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128,
        num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
        max_position_embeddings=128, tie_word_embeddings=False,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    return transformers.LlamaForCausalLM(config)


def lora_config(peft):
    return peft.LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, bias="none",
                           task_type="CAUSAL_LM", target_modules=list(LORA_TARGETS))


def train(torch, model, batch, steps, lr=1e-2):
    """Plain AdamW loop (no Trainer: its arguments drifted across versions)."""
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr)
    model.train()
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach().float().cpu()))
    model.eval()
    return losses


def logits_of(torch, model, batch):
    with torch.no_grad():
        out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    return out.logits.detach().float().cpu()


def greedy(torch, model, tokenizer, device, max_new_tokens=8):
    prompt = tokenizer.encode(PROMPT)
    ids = torch.tensor([prompt], dtype=torch.long, device=device)
    with torch.no_grad():
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids),
                             max_new_tokens=max_new_tokens, do_sample=False,
                             pad_token_id=tokenizer.pad_token_id,
                             eos_token_id=tokenizer.eos_token_id)
    sequences = getattr(out, "sequences", out)
    return [int(t) for t in sequences[0, len(prompt):].tolist()]


def fine_tune_once(ctx, seed, save_base_to=None):
    """Seed, build the base model, wrap it with LoRA and train; returns (peft_model, losses)."""
    torch, transformers, peft = ctx["torch"], ctx["transformers"], ctx["peft"]
    seed_everything(torch, transformers, seed)
    base = make_model(transformers, ctx["tokenizer"]).to(ctx["device"])
    if save_base_to:
        # Before wrapping: get_peft_model injects LoRA layers into the base in place.
        base.save_pretrained(save_base_to)
    model = peft.get_peft_model(base, lora_config(peft))
    losses = train(torch, model, ctx["batch"], ctx["steps"])
    return model, losses


def max_abs_diff(a, b):
    if a.shape != b.shape:
        return float("inf")
    return float((a - b).abs().max())


def check_losses(result, losses):
    finite = all(math.isfinite(x) for x in losses)
    result.check("losses finite", finite,
                 "%d losses, all finite" % len(losses) if finite
                 else "non-finite loss at step %d" % next(
                     i for i, x in enumerate(losses) if not math.isfinite(x)))
    if not finite or len(losses) < 6:
        result.check("loss falls", False, "cannot judge: need 6 finite losses")
        return
    first, last = sum(losses[:3]) / 3.0, sum(losses[-3:]) / 3.0
    result.check("loss falls", last < 0.95 * first,
                 "mean of last 3 %.4f vs 0.95 x mean of first 3 %.4f" % (last, 0.95 * first),
                 value=round(last / first, 4))


def check_reload(ctx, result, model, base_dir, adapter_dir, expected):
    torch, transformers, peft = ctx["torch"], ctx["transformers"], ctx["peft"]
    model.save_pretrained(adapter_dir)
    files = sorted(os.listdir(adapter_dir))
    base = transformers.LlamaForCausalLM.from_pretrained(base_dir).to(ctx["device"])
    reloaded = peft.PeftModel.from_pretrained(base, adapter_dir).to(ctx["device"])
    reloaded.eval()
    diff = max_abs_diff(logits_of(torch, reloaded, ctx["batch"]), expected)
    tol = ctx["reload_tol"]
    result.check("adapter save/reload", diff <= tol,
                 "max |logit diff| %.3g (tolerance %g); adapter files: %s"
                 % (diff, tol, ", ".join(files)), value=diff)


def check_merge_and_generate(ctx, result, model, expected):
    torch, tokenizer, device = ctx["torch"], ctx["tokenizer"], ctx["device"]
    before = greedy(torch, model, tokenizer, device)
    merged = model.merge_and_unload()
    merged.eval()
    diff = max_abs_diff(logits_of(torch, merged, ctx["batch"]), expected)
    result.check("merge logits", diff <= 1e-5,
                 "max |logit diff| after merge_and_unload %.3g (tolerance 1e-5)" % diff,
                 value=diff)
    after = greedy(torch, merged, tokenizer, device)
    text = tokenizer.decode(before)
    result.check("generation non-empty", bool(before) and bool(text.strip()),
                 "greedy %r -> %r (%d new tokens)" % (PROMPT, text, len(before)), value=text)
    result.check("generation same after merge", before == after,
                 "identical token ids" if before == after
                 else "before %s, after %s" % (before, after))


def check_rerun(ctx, result, losses):
    _, again = fine_tune_once(ctx, ctx["seed"])
    diff = max(abs(a - b) for a, b in zip(losses, again)) if len(again) == len(losses) else 1.0
    tol = ctx["rerun_tol"]
    result.check("same-seed rerun", diff <= tol,
                 "max |loss diff| %.3g across two runs with seed %d (tolerance %g)"
                 % (diff, ctx["seed"], tol), value=diff)


def check_autocast(ctx, result, reference_loss):
    """One LoRA step under CUDA autocast; bf16 where supported, else fp16 with a GradScaler."""
    torch = ctx["torch"]
    bf16 = bool(getattr(torch.cuda, "is_bf16_supported", lambda: False)())
    dtype = torch.bfloat16 if bf16 else torch.float16
    model, _ = fine_tune_once(dict(ctx, steps=0), ctx["seed"])
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-2)
    scaler = None
    if not bf16:
        amp = getattr(torch, "amp", None)
        # torch.amp.GradScaler("cuda") since 2.3; torch.cuda.amp.GradScaler before (deprecated).
        scaler = (amp.GradScaler("cuda") if amp is not None and hasattr(amp, "GradScaler")
                  else torch.cuda.amp.GradScaler())
    with torch.autocast(device_type="cuda", dtype=dtype):
        loss = model(**ctx["batch"]).loss
    if scaler is None:
        loss.backward()
        optimizer.step()
    else:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    value = float(loss.detach().float().cpu())
    grads_ok = all(p.grad is None or bool(torch.isfinite(p.grad).all()) for p in params)
    rel = abs(value - reference_loss) / max(abs(reference_loss), 1e-8)
    ok = math.isfinite(value) and grads_ok and rel < 0.05
    result.check("autocast %s step" % ("bf16" if bf16 else "fp16"), ok,
                 "loss %.4f vs fp32 %.4f (rel %.2g, tolerance 0.05), grads %s"
                 % (value, reference_loss, rel, "finite" if grads_ok else "NOT finite"),
                 value=value)


def check_bnb(ctx, result, base_dir, bits):
    """Quantised load of the saved base + LoRA training: the QLoRA path most entries used."""
    torch, transformers, peft = ctx["torch"], ctx["transformers"], ctx["peft"]
    name = "bitsandbytes %d-bit LoRA" % bits
    if bits == 4:
        compute = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        qconfig = transformers.BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                                  bnb_4bit_compute_dtype=compute)
    else:
        qconfig = transformers.BitsAndBytesConfig(load_in_8bit=True)
    seed_everything(torch, transformers, ctx["seed"])
    # quantization_config= works from 4.31 to 5.x; load_in_8bit= kwargs are gone in v5.
    model = transformers.LlamaForCausalLM.from_pretrained(
        base_dir, quantization_config=qconfig, device_map={"": 0})
    prepare = getattr(peft, "prepare_model_for_kbit_training", None) or getattr(
        peft, "prepare_model_for_int8_training")
    model = prepare(model, use_gradient_checkpointing=False)
    model = peft.get_peft_model(model, lora_config(peft))
    losses = train(torch, model, ctx["batch"], 5)
    tokens = greedy(torch, model, ctx["tokenizer"], ctx["device"])
    ok = all(math.isfinite(x) for x in losses) and len(tokens) > 0
    result.check(name, ok, "losses %s, %d tokens generated"
                 % (", ".join("%.3f" % x for x in losses), len(tokens)),
                 value=losses[-1] if losses else None)


def run_step(result, name, func, *args):
    """Run one phase; an exception fails that check with a located message, not a traceback."""
    try:
        return func(*args)
    except Exception as exc:
        result.check(name, False, short_error(exc))
        return None


def choose_device(torch, wanted):
    cuda = False
    try:
        cuda = bool(torch.cuda.is_available())
    except Exception:
        cuda = False
    if wanted == "cuda" and not cuda:
        return None
    if wanted in ("cuda", "auto") and cuda:
        return "cuda"
    return "cpu"


def device_name(torch, device):
    if device == "cuda":
        return "cuda:0 (%s)" % torch.cuda.get_device_name(0)
    return "cpu (%d thread)" % torch.get_num_threads()


def run(args, result):
    start = time.time()
    modules = probe_versions(result)
    result.timing("imports", start)
    if any(n not in modules for n in REQUIRED):
        result.data["status"] = "missing-library"
        return
    torch, transformers, peft = modules["torch"], modules["transformers"], modules["peft"]
    device = choose_device(torch, args.device)
    if device is None:
        result.check("device", False, "--device cuda requested but torch sees no CUDA device")
        result.data["status"] = "failed"
        return
    if device == "cpu":
        torch.set_num_threads(1)
    else:
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    torch.use_deterministic_algorithms(True, warn_only=True)
    result.data["device"] = device_name(torch, device)

    start = time.time()
    tokenizer, tok_desc = make_tokenizer(result.data["versions"])
    result.data["tokenizer"] = tok_desc
    ctx = {"torch": torch, "transformers": transformers, "peft": peft, "device": device,
           "tokenizer": tokenizer, "seed": args.seed, "steps": args.steps,
           "batch": make_batch(torch, tokenizer, device),
           # CPU kernels are bit-reproducible; CUDA reductions may reorder (documented).
           "reload_tol": 0.0 if device == "cpu" else 1e-5,
           "rerun_tol": 0.0 if device == "cpu" else 1e-4}
    work = args.workdir or tempfile.mkdtemp(prefix="carpenter-smoke-")
    if not args.workdir:
        result.cleanup.append(work)
    base_dir, adapter_dir = os.path.join(work, "base"), os.path.join(work, "adapter")
    trained = run_step(result, "fine-tune", fine_tune_once, ctx, args.seed, base_dir)
    result.timing("training", start)
    if trained is None:
        result.data["status"] = "failed"
        return
    model, losses = trained
    result.data["losses"] = [round(x, 6) for x in losses]
    result.data["trainable_params"] = sum(p.numel() for p in model.parameters()
                                          if p.requires_grad)

    start = time.time()
    check_losses(result, losses)
    expected = logits_of(torch, model, ctx["batch"])
    run_step(result, "adapter save/reload", check_reload, ctx, result, model, base_dir,
             adapter_dir, expected)
    run_step(result, "merge and generate", check_merge_and_generate, ctx, result, model,
             expected)
    run_step(result, "same-seed rerun", check_rerun, ctx, result, losses)
    result.timing("checks", start)

    start = time.time()
    gpu_checks(ctx, result, base_dir, losses[0], device)
    result.timing("gpu_checks", start)
    result.data["status"] = "failed" if result.failed() else "passed"


def gpu_checks(ctx, result, base_dir, first_loss, device):
    names = ["autocast step", "bitsandbytes 8-bit LoRA", "bitsandbytes 4-bit LoRA"]
    if device != "cuda":
        for name in names:
            result.check(name, True, "no CUDA device", skipped=True)
        return
    run_step(result, names[0], check_autocast, ctx, result, first_loss)
    if not result.data["versions"].get("bitsandbytes"):
        for name in names[1:]:
            result.check(name, True, "bitsandbytes not in the image", skipped=True)
        return
    try:
        importlib.import_module("bitsandbytes")
    except Exception as exc:  # the classic 2023 failure: a bnb build that misses the CUDA libs
        result.check("import bitsandbytes", False,
                     "bitsandbytes is installed but fails to import: " + short_error(exc))
        return
    for bits, name in ((8, names[1]), (4, names[2])):
        run_step(result, name, check_bnb, ctx, result, base_dir, bits)


def peak_rss_mb():
    try:
        import resource

        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)
    except Exception:
        return None


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", default=None, help="writable folder (default: a temp dir)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    result = Result()
    try:
        run(args, result)
    except Exception as exc:  # anything unforeseen still yields one parseable result
        result.check("harness", False, "unexpected error: " + short_error(exc))
        result.data["status"] = "error"
    for folder in result.cleanup:
        shutil.rmtree(folder, ignore_errors=True)
    result.data["timings"]["total"] = round(time.time() - T0, 3)
    result.data["peak_rss_mb"] = peak_rss_mb()
    sys.stdout.flush()
    sys.stdout.write(RESULT_MARKER + json.dumps(result.data, sort_keys=True) + "\n")
    sys.stdout.flush()
    return 0 if result.data["status"] == "passed" else 1


if __name__ == "__main__":
    code = main()
    sys.stderr.flush()
    # Skip interpreter teardown: unloading torch & co. took 1-5 s and checks nothing.
    os._exit(code)
