"""Shipped beside the entry with py_files."""


def words(line):
    return [w.strip(".,;:!?").lower() for w in line.split() if w.strip(".,;:!?")]
