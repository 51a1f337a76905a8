"""Add the discriminator to a release made before releases carried it, so training can continue from
the release alone (``sketch2face train --continue-from``).

    python scripts/add_discriminator.py RUN_DIR

Only for runs with ``train.keep: last`` (the release is the last step, so the last checkpoint's
discriminator is the one that trained against it). Writes RUN_DIR/release/discriminator.safetensors
(fp16) and the release's ``parts`` record.
"""
import argparse
import json
from pathlib import Path

import torch
from safetensors.torch import save_file

from sketch2face.io import DISCRIMINATOR_FILE, atomic_write_bytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path)
    args = parser.parse_args()
    state = torch.load(args.run_dir / "checkpoints" / "last.pt", map_location="cpu", weights_only=True)
    config_path = args.run_dir / "release" / "config.json"
    release = json.loads(config_path.read_text())
    record = release["metadata"]["training"]
    if state["config"]["train"].get("keep") != "last" or record["step"] != state["step"]:
        raise SystemExit(f"the release is step {record['step']}, the checkpoint step {state['step']}: "
                         "their discriminators differ")
    tensors = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in state["discriminator"].items()}
    save_file(tensors, str(args.run_dir / "release" / DISCRIMINATOR_FILE))
    record.setdefault("parts", [{"run": args.run_dir.name, "steps": record["step"], "minutes": record["minutes"],
                                 "cpu_minutes": record["cpu_minutes"]}])
    record.setdefault("discriminator", {"arch": state["config"]["model"]["discriminator"],
                                        "config": state["config"]["model"]["discriminator_config"]})
    atomic_write_bytes(config_path, (json.dumps(release, indent=2) + "\n").encode())
    print(f"{args.run_dir / 'release' / DISCRIMINATOR_FILE}: {len(tensors)} tensors")


if __name__ == "__main__":
    main()
