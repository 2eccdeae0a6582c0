"""Placeholder train step for the amlctl test estate (not the upstream code)."""
import argparse

parser = argparse.ArgumentParser()
parser.add_argument("--train_data")
parser.add_argument("--model_output")
print("train", vars(parser.parse_args()))
