"""A vLLM-style generation server with a PEFT adapter (look-alikes of secrets, none real)."""
import argparse
import os

import torch
from peft import PeftModelForCausalLM, PeftModelForTokenClassification
from transformers import AutoModelForCausalLM, AutoTokenizer

MODEL_TYPE_TO_PEFT_MODEL_MAPPING = {
    "CAUSAL_LM": PeftModelForCausalLM,
    "TOKEN_CLS": PeftModelForTokenClassification,
}
SPECIAL_TOKEN_PLACEHOLDER = "<|reserved_special_token_0|>"


def get_secret(name: str) -> str:
    return os.environ[name]


class GenerationServer:
    def __init__(self, config, tokenizer, args):
        self.token_dim = config.token_dim
        self.max_token_len = config.max_position_embeddings
        self.pad_token = tokenizer.eos_token
        self.special_tokens = {
            "eos_token": tokenizer.convert_ids_to_tokens(tokenizer.eos_token_id),
            "bos_token": tokenizer.convert_ids_to_tokens(tokenizer.bos_token_id),
        }
        self.hf_token = args.hf_access_token
        self.api_secret = get_secret(args.secret_env_name)
        secret = get_secret("SERVER_SHARED_SECRET_VALUE")
        self.auth_header = {"Authorization": secret}

    def load(self, name: str, args):
        tokenizer = AutoTokenizer.from_pretrained(name, token=args.hf_access_token)
        pad_token = tokenizer.eos_token
        tokenizer.pad_token_id = tokenizer.convert_tokens_to_ids(pad_token)
        model = AutoModelForCausalLM.from_pretrained(name, use_auth_token=args.hf_access_token,
                                                     torch_dtype=torch.bfloat16)
        return tokenizer, model

    def generate(self, input_data):
        generate_token_num = input_data.max_new_tokens
        prompt_token_ids = self.tokenizer(input_data.prompt).input_ids
        stop_token_list = input_data.stop_tokens or [self.tokenizer.eos_token_id]
        return generate_token_num, prompt_token_ids, stop_token_list


def parse_args():
    parser = argparse.ArgumentParser()
    parser.add_argument("--hf_access_token", type=str, default=os.getenv("HF_TOKEN"))
    parser.add_argument("--secret_env_name", type=str, default="SERVER_SHARED_SECRET_VALUE")
    parser.add_argument("--max_new_tokens", type=int, default=512)
    return parser.parse_args()
