"""The pure-Python reference (mnist.nn.reference) vs ours, on the same small job, and the speed-up.

Job: 784-32-10, sigmoid hidden layer, linear output + MSE, full-batch gradient descent (the
pure-Python tutorial's net). The reference trains `--ref-samples` digits for `--ref-epochs`
epochs; ours trains the tutorial's whole job (6,000 digits, 300 epochs). Both are reduced to
seconds per sample-epoch and extrapolated to the tutorial's job (which took it about 6 hours).
    .venv/bin/python benchmarks/bench_reference.py
"""

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere
import mnist  # noqa: E402
from mnist import TrainConfig, build_model, reference, train  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ref-samples", type=int, default=300)
    ap.add_argument("--ref-epochs", type=int, default=2)
    args = ap.parse_args()
    train_ds, _ = mnist.load_mnist()
    job_samples, job_epochs = 6000, 300

    small = train_ds.subset(args.ref_samples, seed=0)
    xs = small.x().astype(float).tolist()
    ys = small.y().tolist()
    params = reference.init_params(seed=0)
    t = time.perf_counter()
    for _ in reference.train(params, xs, ys, args.ref_epochs, lr=0.16, activation="sigmoid",
                             loss="mse"):
        pass
    ref_sec = time.perf_counter() - t
    ref_per = ref_sec / (args.ref_samples * args.ref_epochs)
    print(json.dumps({"impl": "reference (pure Python)", "samples": args.ref_samples,
                      "epochs": args.ref_epochs, "seconds": round(ref_sec, 2),
                      "seconds_per_sample_epoch": ref_per,
                      "tutorial_job_hours_estimate": round(ref_per * job_samples * job_epochs
                                                           / 3600, 2)}))

    cfg = TrainConfig(hidden=(32,), activation="sigmoid", init="xavier", loss="mse",
                      optimizer="sgd", lr=0.16, batch_size=None, epochs=job_epochs,
                      subset=job_samples, val_fraction=0.0, seed=0)
    model = build_model(cfg)
    t = time.perf_counter()
    for rec in train(cfg, train_ds, model=model):
        pass
    ours_sec = time.perf_counter() - t
    ours_per = ours_sec / (job_samples * job_epochs)
    print(json.dumps({"impl": "ours (NumPy)", "samples": job_samples, "epochs": job_epochs,
                      "seconds": round(ours_sec, 2), "seconds_per_sample_epoch": ours_per,
                      "final_train_loss": rec["train_loss"]}))
    print(json.dumps({"impl": "summary", "speedup": round(ref_per / ours_per)}))


if __name__ == "__main__":
    main()
