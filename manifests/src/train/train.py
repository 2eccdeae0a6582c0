"""Train the credit-default model (example code for the example estate)."""
import argparse

parser = argparse.ArgumentParser()
parser.add_argument("--data")
parser.add_argument("--learning-rate", type=float)
parser.add_argument("--model")
args = parser.parse_args()
print(f"training on {args.data} at lr={args.learning_rate} -> {args.model}")
