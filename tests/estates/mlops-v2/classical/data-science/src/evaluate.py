"""Placeholder evaluate step for the amlctl test estate (not the upstream code)."""
import argparse

parser = argparse.ArgumentParser()
parser.add_argument("--model_name")
parser.add_argument("--model_input")
parser.add_argument("--test_data")
parser.add_argument("--evaluation_output")
print("evaluate", vars(parser.parse_args()))
