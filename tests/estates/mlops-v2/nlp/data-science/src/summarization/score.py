"""Placeholder online scoring script for the amlctl test estate (not the upstream code)."""
import json


def init():
    print("init")


def run(raw_data):
    text = json.loads(raw_data)["data"]
    return {"summary": text[:40]}
