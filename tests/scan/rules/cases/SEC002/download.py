from huggingface_hub import snapshot_download

TOKEN = "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"
snapshot_download("meta-llama/Llama-2-7b-hf", token=TOKEN, revision="8cca527612d856d7d32bd94f8103728d614eb852")
