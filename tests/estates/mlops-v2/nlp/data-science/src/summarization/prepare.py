"""Placeholder prepare step for the amlctl test estate (not the upstream code)."""
import argparse

parser = argparse.ArgumentParser()
parser.add_argument("--dataset_name")
parser.add_argument("--dataset_config")
parser.add_argument("--text_column")
parser.add_argument("--summary_column")
parser.add_argument("--limit_samples")
parser.add_argument("--model_arch")
parser.add_argument("--max_input_length")
parser.add_argument("--max_target_length")
parser.add_argument("--padding")
parser.add_argument("--encodings")
print("prepare", vars(parser.parse_known_args()[0]))
