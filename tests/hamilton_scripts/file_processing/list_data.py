import os

from hamilton.htypes import Parallelizable


def files(data_dir: str) -> Parallelizable[str]:
    """One item per listings file."""
    for name in sorted(os.listdir(data_dir)):
        if name.endswith(".json"):
            yield os.path.join(data_dir, name)
