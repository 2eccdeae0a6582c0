"""Placeholder compare step for the amlctl test estate (not the upstream code)."""
import argparse

parser = argparse.ArgumentParser()
parser.add_argument("--baseline_metrics")
parser.add_argument("--candidate_metrics")
parser.add_argument("--reference_metric")
parser.add_argument("--deploy_flag")
parser.add_argument("--force_comparison")
print("compare", vars(parser.parse_known_args()[0]))
