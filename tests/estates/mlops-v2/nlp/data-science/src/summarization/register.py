"""Placeholder register step for the amlctl test estate (not the upstream code)."""
import argparse

parser = argparse.ArgumentParser()
parser.add_argument("--model_folder")
parser.add_argument("--deploy_flag")
parser.add_argument("--register_as")
print("register", vars(parser.parse_known_args()[0]))
