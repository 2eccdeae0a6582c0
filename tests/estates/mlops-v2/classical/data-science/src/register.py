"""Placeholder register step for the amlctl test estate (not the upstream code)."""
import argparse

parser = argparse.ArgumentParser()
parser.add_argument("--model_name")
parser.add_argument("--model_path")
parser.add_argument("--evaluation_output")
parser.add_argument("--model_info_output_path")
print("register", vars(parser.parse_args()))
