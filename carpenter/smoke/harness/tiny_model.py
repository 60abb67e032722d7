"""Build tiny random-weight models (and LoRA adapters) into a Hugging Face cache folder.

Runs INSIDE the submission's image with the image's own transformers/tokenizers/peft (the host
has none), so the files are exactly what that transformers version writes and reads. Input: one
JSON spec (argv[1]); output: `<out>/models--<org>--<name>/snapshots/<rev>/...` + `refs/main`
for each entry, and one result line `CARPENTER_TINY_RESULT {...}` on stdout.

Python >= 3.8, transformers >= 4.31 APIs only (the era of 2023 submissions).
"""

import json
import os
import sys
import time

RESULT_MARKER = "CARPENTER_TINY_RESULT "
TEXTS = ["the capital of france is paris.", "the cat sat on the mat.", "a dog ran to the park.",
         "question: what is two plus two? answer: four.", "once upon a time there was a model."]


def repo_folder(out, repo):
    return os.path.join(out, "models--" + repo.replace("/", "--"))


def snapshot_dir(out, repo, revision):
    """The hub cache layout: refs/main names the snapshot that offline loads resolve to."""
    folder = repo_folder(out, repo)
    os.makedirs(os.path.join(folder, "refs"), exist_ok=True)
    with open(os.path.join(folder, "refs", "main"), "w") as handle:
        handle.write(revision)
    snap = os.path.join(folder, "snapshots", revision)
    os.makedirs(snap, exist_ok=True)
    return snap


def build_tokenizer(special):
    """Byte-level BPE trained in code, carrying the family's special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    names = []
    for key in ("pad", "bos", "eos", "unk"):
        if special.get(key) and special[key] not in names:
            names.append(special[key])
    tok = Tokenizer(models.BPE(unk_token=special.get("unk")))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=names, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(TEXTS, trainer=trainer)
    # No pad token unless the family has one: submissions set `pad_token = eos_token` themselves.
    kwargs = {key + "_token": value for key, value in special.items() if value}
    return PreTrainedTokenizerFast(tokenizer_object=tok, **kwargs)


def save_model(model, snap):
    try:
        model.save_pretrained(snap, safe_serialization=True)
    except TypeError:  # very old transformers without the argument
        model.save_pretrained(snap)


def build_base(entry, out):
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    torch.manual_seed(0)
    family = entry["family"]
    snap = snapshot_dir(out, entry["repo"], entry["revision"])
    tokenizer = build_tokenizer(family["special_tokens"])
    ids = {key + "_token_id": tokenizer.convert_tokens_to_ids(value)
           for key, value in family["special_tokens"].items() if value}
    config = AutoConfig.for_model(family["model_type"], vocab_size=len(tokenizer),
                                  architectures=[family["architecture"]],
                                  **family["config"], **ids)
    model = AutoModelForCausalLM.from_config(config)
    built = type(model).__name__
    if built != family["architecture"]:
        raise RuntimeError("built %s, expected %s" % (built, family["architecture"]))
    save_model(model, snap)
    tokenizer.save_pretrained(snap)
    params = sum(p.numel() for p in model.parameters())
    return {"repo": entry["repo"], "class": built, "params": params, "snapshot": snap}


def build_adapter(entry, out):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    base_snap = os.path.join(repo_folder(out, entry["base_repo"]), "snapshots",
                             entry["base_revision"])
    model = AutoModelForCausalLM.from_pretrained(base_snap)
    config = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, task_type="CAUSAL_LM",
                        target_modules=list(entry["targets"]))
    peft_model = get_peft_model(model, config)
    snap = snapshot_dir(out, entry["repo"], entry["revision"])
    peft_model.save_pretrained(snap)
    # Servers load the adapter by id and the base by the id written in adapter_config.json.
    path = os.path.join(snap, "adapter_config.json")
    with open(path) as handle:
        data = json.load(handle)
    data["base_model_name_or_path"] = entry["base_repo"]
    with open(path, "w") as handle:
        json.dump(data, handle, indent=2)
    AutoTokenizer.from_pretrained(base_snap).save_pretrained(snap)
    return {"repo": entry["repo"], "class": "LoRA adapter", "base": entry["base_repo"],
            "snapshot": snap}


def main():
    spec = json.loads(sys.argv[1])
    out = spec["out"]
    result = {"status": "ok", "built": [], "versions": {}}
    started = time.time()
    try:
        import transformers

        result["versions"]["transformers"] = transformers.__version__
        for entry in spec.get("models", []):
            result["built"].append(build_base(entry, out))
        for entry in spec.get("adapters", []):
            result["built"].append(build_adapter(entry, out))
    except Exception as exc:  # reported to the host as data, with the exception's class
        result["status"] = "error"
        result["error"] = "%s: %s" % (type(exc).__name__, exc)
    result["seconds"] = round(time.time() - started, 3)
    print(RESULT_MARKER + json.dumps(result), flush=True)
    return 0 if result["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
