"""Placeholder run step for the amlctl test estate (not the upstream code)."""
import argparse

parser = argparse.ArgumentParser()
parser.add_argument("--preprocessed_datasets")
parser.add_argument("--learning_rate")
parser.add_argument("--per_device_train_batch_size")
parser.add_argument("--per_device_eval_batch_size")
parser.add_argument("--limit_samples")
parser.add_argument("--model_name")
parser.add_argument("--model_path")
parser.add_argument("--model_output")
parser.add_argument("--output_dir")
parser.add_argument("--num_train_epochs")
parser.add_argument("--max_target_length")
print("run", vars(parser.parse_known_args()[0]))
