from huggingface_hub import hf_hub_download, snapshot_download

TOKENIZER_REPO = "meta-llama/Llama-2-7b-hf"
PINNED = "8cca527612d856d7d32bd94f8103728d614eb852"


def fetch_tokenizer(repo: str = TOKENIZER_REPO) -> str:
    hf_hub_download(repo_id=repo, filename="tokenizer.model")
    return snapshot_download("sentence-transformers/all-MiniLM-L6-v2", revision=PINNED)
