"""The parallel component's entry script: init() once per worker, run() once per mini-batch."""
import argparse
import os

model_dir = None


def init():
    global model_dir
    parser = argparse.ArgumentParser()
    parser.add_argument("--model")
    args, _ = parser.parse_known_args()
    model_dir = args.model


def run(mini_batch):
    return [f"{os.path.basename(path)},{model_dir}" for path in mini_batch]
