from datasets import load_dataset

# the training data
load_dataset("tatsu-lab/alpaca")
