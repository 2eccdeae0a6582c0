"""Placeholder batch scoring script for the amlctl test estate (not the upstream code)."""


def init():
    print("init")


def run(mini_batch):
    print(f"scoring {len(mini_batch)} files")
    return [str(item) for item in mini_batch]
