//! `command` components: any program allowed by `CAIRN_COMMAND_ALLOW`, run in a
//! scratch folder with its inputs as files and its outputs read back from files.
//!
//! | the program gets | what it is |
//! |---|---|
//! | `{{inputs.x}}` in an argument, `CAIRN_INPUT_X` | a scalar's value; a file's local path; a dataset's Parquet path (`CAIRN_INPUT_X_CSV`: the same rows as CSV) |
//! | `{{outputs.y}}`, `CAIRN_OUTPUT_Y` | the path it must write: a file output is uploaded as is; a scalar, json or metrics output is read as JSON (a string output may be plain text); a dataset output (CSV or Parquet) becomes a version of the dataset `<pipeline>-<step>-<y>` |
//! | environment | cleared except `PATH`, `HOME`, `LANG` and the component's `env` |
//!
//! Output streams into the step's log. The step fails, with the last lines, when the
//! program exits non-zero, runs past the step's timeout (killed), or leaves a
//! declared output unwritten.

use super::{Outcome, StepContext};
use crate::datasets::{self, VersionInput};
use crate::{Error, Result};
use domain::pipelines::{CommandComponentSpec, ValueType};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, BufReader};

/// Lines of output quoted in a failure's message.
const TAIL_LINES: usize = 12;

pub async fn run(sc: &StepContext<'_>, spec: &CommandComponentSpec) -> Result<Outcome> {
    let Some(program) = spec.command.first() else {
        return Ok(Outcome::Fail("the component has an empty command".into()));
    };
    if let Err(e) = sc.st.commands.check(program) {
        return Ok(Outcome::Fail(e.to_string()));
    }
    let scratch = tempfile::tempdir().map_err(|e| Error::Other(e.into()))?;
    let (in_dir, out_dir) = (scratch.path().join("inputs"), scratch.path().join("outputs"));
    for d in [&in_dir, &out_dir] {
        tokio::fs::create_dir_all(d).await.map_err(|e| Error::Other(e.into()))?;
    }

    // Inputs: the text each placeholder becomes, and the environment.
    let mut values: BTreeMap<String, String> = BTreeMap::new();
    let mut env: Vec<(String, String)> = base_env();
    for (name, port) in &spec.inputs {
        let Some(v) = sc.input(name) else { continue };
        let text = match port.ty {
            ValueType::File => {
                let key = v.get("key").and_then(Value::as_str).unwrap_or_default();
                let bytes = sc.st.store.get(key).await.map_err(Error::from)?;
                let path = in_dir.join(name);
                tokio::fs::write(&path, &bytes).await.map_err(|e| Error::Other(e.into()))?;
                path_text(&path)
            }
            ValueType::Dataset => {
                let Some(key) = dataset_key(sc, v).await? else {
                    return Ok(Outcome::Fail(format!(
                        "input '{name}': the dataset version no longer exists"
                    )));
                };
                let bytes = sc.st.store.get(&key).await.map_err(Error::from)?;
                let parquet = in_dir.join(format!("{name}.parquet"));
                let csv = in_dir.join(format!("{name}.csv"));
                tokio::fs::write(&parquet, &bytes).await.map_err(|e| Error::Other(e.into()))?;
                let csv2 = csv.clone();
                tokio::task::spawn_blocking(move || crate::datasets::read::write_csv(bytes, &csv2))
                    .await
                    .map_err(|e| Error::Other(anyhow::anyhow!("writing the CSV failed: {e}")))??;
                env.push((format!("CAIRN_INPUT_{}_CSV", env_name(name)), path_text(&csv)));
                path_text(&parquet)
            }
            _ => v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()),
        };
        env.push((format!("CAIRN_INPUT_{}", env_name(name)), text.clone()));
        values.insert(format!("inputs.{name}"), text);
    }
    for name in spec.outputs.keys() {
        let path = path_text(&out_dir.join(name));
        env.push((format!("CAIRN_OUTPUT_{}", env_name(name)), path.clone()));
        values.insert(format!("outputs.{name}"), path);
    }
    env.extend(spec.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    let args: Vec<String> = spec.command[1..].iter().map(|a| substitute(a, &values)).collect();

    sc.log(format!("$ {program} {}", args.join(" "))).await?;
    let mut command = tokio::process::Command::new(program);
    command
        .args(&args)
        .current_dir(scratch.path())
        .env_clear()
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = match command.spawn() {
        Ok(c) => c,
        Err(e) => {
            return Ok(Outcome::Fail(format!(
                "could not start `{program}`: {e}; is it installed on the worker?"
            )));
        }
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let streams = [
        child.stdout.take().map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
        child.stderr.take().map(|s| Box::new(s) as _),
    ];
    for stream in streams.into_iter().flatten() {
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stream).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    drop(tx);
    let deadline = tokio::time::sleep(sc.timeout);
    tokio::pin!(deadline);
    let mut tail: VecDeque<String> = VecDeque::with_capacity(TAIL_LINES);
    let mut open = true;
    let status = loop {
        tokio::select! {
            line = rx.recv(), if open => match line {
                Some(line) => {
                    if tail.len() == TAIL_LINES {
                        tail.pop_front();
                    }
                    tail.push_back(line.clone());
                    sc.log(line).await?;
                }
                None => open = false,
            },
            status = child.wait(), if !open => break status.map_err(|e| Error::Other(e.into()))?,
            _ = &mut deadline => {
                let _ = child.kill().await;
                return Ok(Outcome::Fail(format!(
                    "the command ran past the step's timeout of {} s and was killed{}",
                    sc.timeout.as_secs(),
                    last_lines(&tail)
                )));
            }
            _ = sc.ctx.cancelled() => {
                let _ = child.kill().await;
                return Ok(Outcome::Fail("cancelled".into()));
            }
        }
    };
    if !status.success() {
        let code = status.code().map(|c| format!("status {c}")).unwrap_or_else(|| "a signal".into());
        return Ok(Outcome::Fail(format!("the command exited with {code}{}", last_lines(&tail))));
    }

    let mut outputs = BTreeMap::new();
    for (name, port) in &spec.outputs {
        let path = out_dir.join(name);
        if !tokio::fs::try_exists(&path).await.unwrap_or(false) {
            return Ok(Outcome::Fail(format!(
                "the command exited successfully but produced no output '{name}' (it must write {} — \
                 {{{{outputs.{name}}}}} or $CAIRN_OUTPUT_{})",
                port.ty,
                env_name(name)
            )));
        }
        let value = match read_output(sc, name, port.ty, &path).await? {
            Ok(v) => v,
            Err(msg) => return Ok(Outcome::Fail(format!("output '{name}': {msg}"))),
        };
        outputs.insert(name.clone(), value);
    }
    Ok(Outcome::Done(outputs))
}

async fn read_output(
    sc: &StepContext<'_>,
    name: &str,
    ty: ValueType,
    path: &Path,
) -> Result<std::result::Result<Value, String>> {
    let bytes = tokio::fs::read(path).await.map_err(|e| Error::Other(e.into()))?;
    Ok(match ty {
        ValueType::File => {
            let sha = hex::encode(Sha256::digest(&bytes));
            let key = format!("pipelines/runs/{}/{}/{name}", sc.run_id.simple(), sc.step);
            let size = bytes.len();
            sc.st.store.put(&key, bytes.into()).await.map_err(Error::from)?;
            Ok(json!({"key": key, "sha256": format!("sha256:{sha}"), "size": size}))
        }
        ValueType::Dataset => return dataset_output(sc, name, path).await,
        ValueType::String => {
            let text = String::from_utf8_lossy(&bytes).trim().to_string();
            Ok(serde_json::from_str::<Value>(&text)
                .ok()
                .filter(Value::is_string)
                .unwrap_or(Value::String(text)))
        }
        _ => match serde_json::from_slice::<Value>(&bytes) {
            Err(e) => Err(format!("is not JSON ({e})")),
            Ok(v) if ty.accepts_literal(&v) => Ok(v),
            Ok(v) => Err(format!("{v} is not of type {ty}")),
        },
    })
}

/// A CSV or Parquet file the program wrote becomes a version of `<pipeline>-<step>-<name>`.
async fn dataset_output(
    sc: &StepContext<'_>,
    name: &str,
    path: &Path,
) -> Result<std::result::Result<Value, String>> {
    let ds_name = format!("{}-{}-{name}", sc.pipeline, sc.step);
    let ds = match datasets::resolve(sc.st, sc.principal, &ds_name).await {
        Ok(d) => d,
        Err(Error::NotFound { .. }) => {
            datasets::create(
                sc.st,
                sc.principal,
                domain::datasets::NewDataset {
                    name: ds_name.clone(),
                    description: format!(
                        "Output '{name}' of step '{}' of pipeline '{}'",
                        sc.step, sc.pipeline
                    ),
                    project_id: None,
                },
            )
            .await?
        }
        Err(e) => return Err(e),
    };
    let bytes = tokio::fs::read(path).await.map_err(|e| Error::Other(e.into()))?;
    let stream = futures::stream::iter([Ok(bytes::Bytes::from(bytes))]);
    let spooled = datasets::spool(stream, u64::MAX).await?;
    let input = VersionInput::upload(Some(name.to_string()), BTreeMap::new());
    let created = match datasets::create_version(sc.st, sc.principal, ds.dataset_id, spooled, input).await {
        Ok(c) => c,
        Err(Error::Validation(e)) => return Ok(Err(e.to_string())),
        Err(e) => return Err(e),
    };
    Ok(Ok(super::builtin::dataset_value(&created.version)))
}

async fn dataset_key(sc: &StepContext<'_>, v: &Value) -> Result<Option<String>> {
    let Some(id) = v.get("version_id").and_then(Value::as_str).and_then(|s| s.parse().ok()) else {
        return Ok(None);
    };
    Ok(crate::db::training::version_location(&sc.st.db, id).await?.map(|l| l.storage_key))
}

fn substitute(arg: &str, values: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(arg.len());
    let mut rest = arg;
    while let Some(start) = rest.find("{{") {
        let Some(end) = rest[start..].find("}}") else { break };
        out.push_str(&rest[..start]);
        let key = rest[start + 2..start + end].trim();
        match values.get(key) {
            Some(v) => out.push_str(v),
            None => out.push_str(&rest[start..start + end + 2]),
        }
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    out
}

fn env_name(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect()
}

fn path_text(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

fn base_env() -> Vec<(String, String)> {
    ["PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR"]
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
        .chain([("PYTHONUNBUFFERED".to_string(), "1".to_string())])
        .collect()
}

fn last_lines(tail: &VecDeque<String>) -> String {
    if tail.is_empty() {
        return String::new();
    }
    format!("; last output:\n{}", tail.iter().cloned().collect::<Vec<_>>().join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_substituted() {
        let values: BTreeMap<String, String> =
            [("inputs.n".to_string(), "3".to_string()), ("outputs.out".to_string(), "/tmp/o".to_string())]
                .into();
        assert_eq!(substitute("--n={{inputs.n}}", &values), "--n=3");
        assert_eq!(substitute("{{ outputs.out }}", &values), "/tmp/o");
        assert_eq!(substitute("{{inputs.missing}}", &values), "{{inputs.missing}}");
        assert_eq!(env_name("my-out"), "MY_OUT");
    }
}
