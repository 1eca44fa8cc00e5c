"""A command trainer for Cairn: scikit-learn logistic regression on a CSV dataset.

Run through Cairn (the server must allow the interpreter, e.g.
CAIRN_COMMAND_ALLOW=/opt/venv/bin/python):

    curl -X POST $CAIRN/api/v1/training/commands -H "Authorization: Bearer $TOKEN" \
      -d '{"dataset": "credit", "target": "Status",
           "command": ["/opt/venv/bin/python", "/path/to/examples/command-trainer/train.py"],
           "params": {"C": 1.0, "folds": 5}}'

The contract (see README.md): read $CAIRN_DATA_CSV and $CAIRN_PARAMS_FILE, write the
model into $CAIRN_MODEL_DIR and the metrics into $CAIRN_METRICS_FILE, print
`CAIRN_METRIC {...}` lines for live metrics, exit non-zero on failure.
"""

import json
import os
import pickle
import sys

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler


def live_metric(name, value, step=0):
    print("CAIRN_METRIC " + json.dumps({"name": name, "value": float(value), "step": step}), flush=True)


def main():
    with open(os.environ["CAIRN_PARAMS_FILE"]) as f:
        params = json.load(f)
    target = os.environ.get("CAIRN_TARGET")
    if not target:
        sys.exit("this trainer needs a target column: give `target` in the request")
    data = pd.read_csv(os.environ["CAIRN_DATA_CSV"])
    y = data.pop(target)
    positive = sorted(y.dropna().unique())[-1]
    y = (y == positive).astype(int)
    numeric = [c for c in data.columns if data[c].dtype.kind in "if"]
    text = [c for c in data.columns if c not in numeric]
    model = make_pipeline(
        ColumnTransformer([
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
            ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"),
                                  OneHotEncoder(handle_unknown="ignore")), text),
        ]),
        LogisticRegression(C=float(params.get("C", 1.0)), max_iter=1000),
    )
    x_train, x_test, y_train, y_test = train_test_split(
        data, y, test_size=0.2, stratify=y, random_state=int(params.get("seed", 0)))
    folds = StratifiedKFold(n_splits=int(params.get("folds", 5)), shuffle=True, random_state=0)
    for step, (fit_rows, val_rows) in enumerate(folds.split(x_train, y_train)):
        model.fit(x_train.iloc[fit_rows], y_train.iloc[fit_rows])
        score = roc_auc_score(y_train.iloc[val_rows], model.predict_proba(x_train.iloc[val_rows])[:, 1])
        live_metric("cv_roc_auc", score, step)
        print(f"fold {step}: roc_auc {score:.4f}")
    model.fit(x_train, y_train)
    auc = roc_auc_score(y_test, model.predict_proba(x_test)[:, 1])
    with open(os.path.join(os.environ["CAIRN_MODEL_DIR"], "model.pkl"), "wb") as f:
        pickle.dump(model, f)
    with open(os.environ["CAIRN_METRICS_FILE"], "w") as f:
        json.dump({"roc_auc": auc, "n_train": len(x_train), "n_test": len(x_test)}, f)
    print(f"held-out roc_auc {auc:.4f}; positive class {positive!r}")


if __name__ == "__main__":
    main()
