"""Placeholder prep step for the amlctl test estate (not the upstream code)."""
import argparse

parser = argparse.ArgumentParser()
parser.add_argument("--raw_data")
parser.add_argument("--train_data")
parser.add_argument("--val_data")
parser.add_argument("--test_data")
parser.add_argument("--enable_monitoring")
parser.add_argument("--table_name")
print("prep", vars(parser.parse_args()))
