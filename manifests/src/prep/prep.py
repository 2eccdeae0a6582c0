"""Prepare raw credit applications for training (example code for the example estate)."""
import argparse

parser = argparse.ArgumentParser()
parser.add_argument("--raw")
parser.add_argument("--out")
args = parser.parse_args()
print(f"preparing {args.raw} -> {args.out}")
