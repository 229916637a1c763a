//! The environments the CDK app (`infra/`) gives each Rust function, in all four modes, as
//! `infra/scripts/function-environments.ts` writes them, for the crates' tests that feed them to
//! the binaries' own parsers: a variable renamed on one side fails a test, not a deploy.
//!
//! The file is named by `INFRA_FUNCTION_ENVIRONMENTS` (tests/test-all.sh writes it before
//! `cargo test`); without it the tests fail, as they cannot check anything.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

/// The variable that names the file.
pub const VARIABLE: &str = "INFRA_FUNCTION_ENVIRONMENTS";

/// One synthesized stack: its mode (`public`, `vpc`), its `dbAuth` (`iam`, `secret`), the
/// retention it was synthesized with (`retentionDays`, `archive`) and its functions by binary
/// name.
pub struct Stack {
    pub mode: String,
    pub db_auth: String,
    /// `retentionDays`; `None` for a stack synthesized without it (no ingest-expire).
    pub retention_days: Option<u32>,
    /// `archive=true`: ingest-expire writes each chunk to the stack's archive bucket first.
    pub archive: bool,
    pub functions: BTreeMap<String, Function>,
}

impl Stack {
    /// The function of a binary; panics naming the stack when the stack has none.
    pub fn function(&self, binary: &str) -> &Function {
        self.functions.get(binary).unwrap_or_else(|| {
            panic!(
                "{}: the stack deploys no {binary} (it has {:?})",
                self.name(),
                self.functions.keys().collect::<Vec<_>>()
            )
        })
    }

    /// `mode/dbAuth`, for messages.
    pub fn name(&self) -> String {
        format!("{}/{}", self.mode, self.db_auth)
    }
}

/// What one function sees: the variables the stack sets, the ones Lambda adds, and its layers
/// under /opt. Records every name a parser asks for, so a test can tell which variables nothing
/// reads.
pub struct Function {
    environment: BTreeMap<String, String>,
    /// Stands for /opt (the function's layers, extracted).
    layer_root: Option<PathBuf>,
    /// Lambda's own variables: AWS_REGION and AWS_LAMBDA_FUNCTION_NAME, among others.
    /// https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime
    runtime: BTreeMap<String, String>,
    read: RefCell<BTreeSet<String>>,
}

impl Function {
    /// A variable's value as the function reads it: a path under /opt points into the layers
    /// written beside the file. Counts the name as read.
    pub fn var(&self, name: &str) -> Option<String> {
        self.read.borrow_mut().insert(name.to_owned());
        if let Some(v) = self.runtime.get(name) {
            return Some(v.clone());
        }
        let value = self.environment.get(name)?;
        match (value.strip_prefix("/opt/"), &self.layer_root) {
            (Some(rest), Some(root)) => Some(root.join(rest).display().to_string()),
            _ => Some(value.clone()),
        }
    }

    /// A variable as the stack sets it, without counting it as read.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.environment.get(name).map(String::as_str)
    }

    /// The variables the stack sets that no parser asked for since the last call.
    pub fn unread(&self) -> Vec<String> {
        let read = self.read.take();
        self.environment
            .keys()
            .filter(|k| !read.contains(*k))
            .cloned()
            .collect()
    }
}

/// Every stack of the file `INFRA_FUNCTION_ENVIRONMENTS` names. Panics, saying how to make the
/// file, when the variable is unset or the file unreadable.
pub fn load() -> Vec<Stack> {
    let path = std::env::var_os(VARIABLE)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            panic!(
                "{VARIABLE} is not set: run tests/test-all.sh, or `(cd infra && npx tsx \
             scripts/function-environments.ts /tmp/function-environments.json)` and export \
             {VARIABLE}=/tmp/function-environments.json"
            )
        });
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{VARIABLE}={}: {e}", path.display()));
    let json: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{VARIABLE}={}: not JSON: {e}", path.display()));
    parse(&json).unwrap_or_else(|e| panic!("{VARIABLE}={}: {e}", path.display()))
}

fn parse(json: &Value) -> Result<Vec<Stack>, String> {
    let region = string(json, "region")?;
    array(json, "stacks")?
        .iter()
        .map(|stack| {
            let mode = string(stack, "mode")?;
            let db_auth = string(stack, "dbAuth")?;
            let retention_days = match stack.get("retentionDays") {
                None | Some(Value::Null) => None,
                Some(v) => Some(
                    v.as_u64()
                        .and_then(|d| u32::try_from(d).ok())
                        .ok_or_else(|| format!("{mode}/{db_auth}: retentionDays is {v}"))?,
                ),
            };
            let archive = match stack.get("archive") {
                None => false,
                Some(v) => v
                    .as_bool()
                    .ok_or_else(|| format!("{mode}/{db_auth}: archive is {v}"))?,
            };
            let functions = object(stack, "functions")?
                .iter()
                .map(|(binary, f)| {
                    let function = function(f, binary, &mode, &db_auth, &region)
                        .map_err(|e| format!("{mode}/{db_auth} {binary}: {e}"))?;
                    Ok((binary.clone(), function))
                })
                .collect::<Result<_, String>>()?;
            Ok(Stack {
                mode,
                db_auth,
                retention_days,
                archive,
                functions,
            })
        })
        .collect()
}

fn function(
    json: &Value,
    binary: &str,
    mode: &str,
    db_auth: &str,
    region: &str,
) -> Result<Function, String> {
    let environment = object(json, "environment")?
        .iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k.clone(), s.clone())),
            other => Err(format!("{k} is {other}, not a string")),
        })
        .collect::<Result<_, String>>()?;
    let layer_root = match json.get("layerRoot") {
        None => None,
        Some(_) => Some(Path::new(&string(json, "layerRoot")?).to_path_buf()),
    };
    let runtime = BTreeMap::from([
        ("AWS_REGION".to_owned(), region.to_owned()),
        (
            "AWS_LAMBDA_FUNCTION_NAME".to_owned(),
            format!("LambdaRdsIngest-{mode}-{db_auth}-{binary}"),
        ),
    ]);
    Ok(Function {
        environment,
        layer_root,
        runtime,
        read: RefCell::default(),
    })
}

fn string(json: &Value, key: &str) -> Result<String, String> {
    json.get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| format!("no string {key:?}"))
}

fn array<'a>(json: &'a Value, key: &str) -> Result<&'a Vec<Value>, String> {
    json.get(key)
        .and_then(Value::as_array)
        .ok_or_else(|| format!("no array {key:?}"))
}

fn object<'a>(json: &'a Value, key: &str) -> Result<&'a serde_json::Map<String, Value>, String> {
    json.get(key)
        .and_then(Value::as_object)
        .ok_or_else(|| format!("no object {key:?}"))
}
