"""Warm the Hugging Face cache so the server starts offline."""
import argparse

from common.hub import fetch_tokenizer
from transformers import AutoModelForCausalLM

DEFAULT_MODEL = "Qwen/Qwen-7B-Chat"
LOCAL_ADAPTER = "./adapters/lora"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model_name", type=str, default=DEFAULT_MODEL)
    parser.add_argument("--adapter", type=str, default=LOCAL_ADAPTER)
    args = parser.parse_args()
    AutoModelForCausalLM.from_pretrained(args.model_name, trust_remote_code=True)
    AutoModelForCausalLM.from_pretrained(args.adapter)  # a local folder: fine
    fetch_tokenizer()


if __name__ == "__main__":
    main()
