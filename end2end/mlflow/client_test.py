"""The real `mlflow` client (mlflow-skinny, pinned in requirements.txt) against Cairn.

The calls `mlflow.sklearn.log_model` and `mlflow.pyfunc.load_model` make are listed
in README.md (recorded against a real `mlflow server`).

Run by scripts/mlflow-client-test.sh with MLFLOW_TRACKING_URI and
MLFLOW_TRACKING_TOKEN set; exits non-zero on the first mismatch.
"""
import json
import math
import os
import tempfile

import mlflow
from mlflow import MlflowClient

name = f"client-test-{os.getpid()}"
mlflow.set_experiment(name)
with mlflow.start_run(run_name="parent") as parent:
    mlflow.log_param("lr", "0.1")
    with mlflow.start_run(run_name="child", nested=True) as child:
        for step in range(5):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        mlflow.log_metric("nan", float("nan"))
        mlflow.log_metric("inf", float("inf"))
        mlflow.log_metrics({"acc": 0.9, "f1": 0.8}, step=4)
        mlflow.log_params({"depth": 5, "model": "rf"})
        mlflow.set_tag("team", "cv")
        mlflow.log_dict({"a": 1, "b": [1, 2]}, "config.json")
        mlflow.log_text("hello cairn", "notes/hello.txt")

client = MlflowClient()
exp = client.get_experiment_by_name(name)
assert exp is not None and exp.name == name, exp

runs = client.search_runs([exp.experiment_id], filter_string="metrics.loss < 0.5 and params.model = 'rf'")
assert [r.info.run_name for r in runs] == ["child"], [r.info.run_name for r in runs]
ordered = client.search_runs([exp.experiment_id], order_by=["attributes.start_time ASC"])
assert [r.info.run_name for r in ordered] == ["parent", "child"], [r.info.run_name for r in ordered]

hist = client.get_metric_history(child.info.run_id, "loss")
assert [(m.step, m.value) for m in hist] == [(s, 1.0 / (s + 1)) for s in range(5)], hist

run = client.get_run(child.info.run_id)
assert math.isnan(run.data.metrics["nan"]), run.data.metrics
assert run.data.metrics["inf"] == float("inf"), run.data.metrics
assert run.data.metrics["acc"] == 0.9 and run.data.params == {"depth": "5", "model": "rf"}, run.data
assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id, run.data.tags
assert run.data.tags["team"] == "cv"
assert run.info.status == "FINISHED", run.info.status

top = sorted(f.path for f in client.list_artifacts(child.info.run_id))
assert top == ["config.json", "notes"], top
with tempfile.TemporaryDirectory() as dst:
    path = client.download_artifacts(child.info.run_id, "config.json", dst)
    with open(path) as f:
        assert json.load(f) == {"a": 1, "b": [1, 2]}
    path = client.download_artifacts(child.info.run_id, "notes/hello.txt", dst)
    with open(path) as f:
        assert f.read() == "hello cairn"

# MLflow 3 logged models: log a scikit-learn model inside a run and load it back
# through `runs:/<run>/model` and `models:/<model_id>`.
from mlflow.entities import LoggedModelStatus
import mlflow.pyfunc
import mlflow.sklearn
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

X, y = load_iris(return_X_y=True)
clf = LogisticRegression(max_iter=500).fit(X, y)
with mlflow.start_run(run_name="sklearn") as run:
    mlflow.log_param("C", clf.C)
    info = mlflow.sklearn.log_model(clf, name="model")
assert info.model_id and info.model_id.startswith("m-"), info.model_id
assert info.artifact_path == f"mlflow-artifacts:/{exp.experiment_id}/models/{info.model_id}/artifacts", info.artifact_path
expected = clf.predict(X)
by_run = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model").predict(X)
by_id = mlflow.pyfunc.load_model(f"models:/{info.model_id}").predict(X)
assert (by_run == expected).all() and (by_id == expected).all(), (by_run, by_id)
logged = client.get_logged_model(info.model_id)
assert logged.status == LoggedModelStatus.READY, logged.status
assert logged.source_run_id == run.info.run_id, logged.source_run_id
assert logged.params.get("C") == str(clf.C), logged.params
found = client.search_logged_models([exp.experiment_id], filter_string="name = 'model'")
assert [m.model_id for m in found] == [info.model_id], found
client.set_logged_model_tags(info.model_id, {"stage": "test"})
assert client.get_logged_model(info.model_id).tags.get("stage") == "test"

# Model registry: register the logged model, move an unprotected alias, load
# `models:/name/1` and `models:/name@alias`; production is protected, so setting it
# creates a promotion request and the client gets an error saying so; an approver
# (another user) approves through Cairn's REST API and then production loads.
import re
import urllib.request
from mlflow.exceptions import MlflowException

reg_name = f"credit-{os.getpid()}"
mv = mlflow.register_model(f"runs:/{run.info.run_id}/model", reg_name)
assert (mv.version, mv.status) == ("1", "READY"), mv
mv2 = client.create_model_version(reg_name, f"models:/{info.model_id}", run_id=run.info.run_id)
assert mv2.version == "2", mv2
rm = client.get_registered_model(reg_name)
assert [v.version for v in rm.latest_versions] == ["2"], rm.latest_versions
assert [m.name for m in client.search_registered_models(filter_string="name LIKE 'credit-%'")] == [reg_name]
assert sorted(v.version for v in client.search_model_versions(f"name = '{reg_name}'")) == ["1", "2"]
client.update_model_version(reg_name, "1", description="first")
assert client.get_model_version(reg_name, "1").description == "first"
client.set_model_version_tag(reg_name, "1", "owner", "risk")
assert client.get_model_version(reg_name, "1").tags == {"owner": "risk"}

client.set_registered_model_alias(reg_name, "staging", "1")
assert client.get_model_version_by_alias(reg_name, "staging").version == "1"
assert client.get_registered_model(reg_name).aliases == {"staging": "1"}
by_version = mlflow.pyfunc.load_model(f"models:/{reg_name}/1").predict(X)
by_alias = mlflow.pyfunc.load_model(f"models:/{reg_name}@staging").predict(X)
assert (by_version == expected).all() and (by_alias == expected).all()


def refused(call, *args):
    try:
        call(*args)
    except MlflowException as e:
        return e
    raise AssertionError(f"{call.__name__}{args} should have been refused")


err = refused(client.set_registered_model_alias, reg_name, "production", "2")
assert "protected alias" in err.message and "promotion request" in err.message, err.message
request_id = re.search(r"promotion request ([0-9a-f-]{36})", err.message).group(1)
err = refused(client.get_model_version_by_alias, reg_name, "production")
assert err.error_code == "RESOURCE_DOES_NOT_EXIST", err.error_code
# The deprecated stage API maps to aliases and obeys the same rule.
err = refused(client.transition_model_version_stage, reg_name, "2", "Production")
assert request_id in err.message, err.message
err = refused(client.transition_model_version_stage, reg_name, "2", "Archived")
assert "delete its alias" in err.message, err.message
err = refused(client.delete_registered_model_alias, reg_name, "production")
assert err.error_code in ("PERMISSION_DENIED", "RESOURCE_DOES_NOT_EXIST"), err.error_code

approve = urllib.request.Request(
    f"{os.environ['MLFLOW_TRACKING_URI']}/api/v1/promotions/{request_id}/reviews",
    data=json.dumps({"decision": "approve", "comment": "holds up"}).encode(),
    headers={"Authorization": f"Bearer {os.environ['CAIRN_APPROVER_TOKEN']}", "Content-Type": "application/json"},
    method="POST",
)
with urllib.request.urlopen(approve) as resp:
    assert json.load(resp)["state"] == "approved"
assert client.get_model_version_by_alias(reg_name, "production").version == "2"
assert client.get_model_version(reg_name, "2").current_stage == "Production"
assert [v.version for v in client.get_latest_versions(reg_name, stages=["Production"])] == ["2"]
by_prod = mlflow.pyfunc.load_model(f"models:/{reg_name}@production").predict(X)
assert (by_prod == expected).all()
err = refused(client.delete_model_version, reg_name, "2")
assert "alias" in err.message, err.message
client.delete_registered_model_alias(reg_name, "staging")
client.delete_model_version(reg_name, "1")
assert sorted(v.version for v in client.search_model_versions(f"name = '{reg_name}'")) == ["2"]

print("mlflow: 3 passed, 0 failed")
