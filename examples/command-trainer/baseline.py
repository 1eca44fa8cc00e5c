"""The smallest command trainer: a majority-class (or mean) baseline, standard
library only. Cairn's tests run it; it shows the whole contract in 40 lines."""

import csv
import json
import os
import sys
from collections import Counter

params = json.load(open(os.environ["CAIRN_PARAMS_FILE"]))
target = os.environ.get("CAIRN_TARGET") or sys.exit("give a target column")
if params.get("fail"):
    sys.exit(f"asked to fail: {params['fail']}")
with open(os.environ["CAIRN_DATA_CSV"], newline="") as f:
    values = [row[target] for row in csv.DictReader(f)]
print(f"read {len(values)} rows", flush=True)
for step in range(3):
    print("CAIRN_METRIC " + json.dumps({"name": "progress", "value": (step + 1) / 3, "step": step}), flush=True)
counts = Counter(v for v in values if v != "")
label, hits = counts.most_common(1)[0]
model = {"predict": label}
if params.get("no_model"):
    sys.exit(0)
with open(os.path.join(os.environ["CAIRN_MODEL_DIR"], "model.json"), "w") as f:
    json.dump(model, f)
with open(os.environ["CAIRN_METRICS_FILE"], "w") as f:
    json.dump({"accuracy": hits / len(values), "loss": [0.9, 0.5, 0.3]}, f)
print(f"majority class {label!r}: accuracy {hits / len(values):.4f}")
