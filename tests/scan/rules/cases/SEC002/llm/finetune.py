"""LoRA fine-tune: the real leaks a submission committed (all must be reported)."""
import wandb
from huggingface_hub import login

login(token='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')
# login(token='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')
wandb.login(key="68e6f9833288305d32df5ce9fedd38fc7ef24f8e")
service_api_key = "b0Tz8BbwTKx8EqwtHmcOJEZq"
# WEBHOOK_SECRET=b0Tz8BbwTKx8EqwtHmcOJEZqLm
tokenizer_pad_token = tokenizer.eos_token
