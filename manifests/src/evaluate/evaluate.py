"""Score the candidate model on the feature table and print its AUC (example code for the example estate)."""
import argparse

parser = argparse.ArgumentParser()
parser.add_argument("--model")
parser.add_argument("--features")
parser.add_argument("--report")
args = parser.parse_args()
print(f"evaluating {args.model} on {args.features}; report in {args.report}")
