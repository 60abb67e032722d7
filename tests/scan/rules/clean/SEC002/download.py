import os

from huggingface_hub import snapshot_download

snapshot_download("meta-llama/Llama-2-7b-hf", token=os.environ["HF_TOKEN"])
