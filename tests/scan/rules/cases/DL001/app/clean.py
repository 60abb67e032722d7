"""Post-processing only: no download (look-alikes)."""
import subprocess

from transformers import AutoTokenizer


def run(model_dir: str) -> None:
    AutoTokenizer.from_pretrained(model_dir)
    subprocess.run(["python", "-m", "compileall", "/app"], check=True)
    subprocess.run("rm -rf /root/.cache/pip", shell=True, check=True)
