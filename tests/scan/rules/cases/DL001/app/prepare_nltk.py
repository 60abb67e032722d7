import os
import subprocess
import urllib.request

import nltk
import torch
from datasets import load_dataset

EMBED_URL = "https://dl.fbaipublicfiles.com/fasttext/vectors-english/crawl-300d-2M.vec.zip"

nltk.download("stopwords")
urllib.request.urlretrieve(EMBED_URL, "/data/crawl.zip")
subprocess.run(["wget", "-q", "https://github.com/team/assets/raw/main/vocab.txt"], check=True)
os.system("curl -sLO https://example.org/lexicon.tsv")
torch.hub.load("facebookresearch/dinov2", "dinov2_vits14")
load_dataset("json", data_files="data/train.jsonl")  # local files: fine
load_dataset("gsm8k", "main")
