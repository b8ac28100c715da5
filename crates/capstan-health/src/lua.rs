//! Lua health overrides from `argocd-cm`, run like Argo CD's `util/lua/lua.go`.
//!
//! Contract with the script (Argo CD's): the global `obj` holds the live object as a Lua table
//! (JSON `null` becomes `nil`, arrays are 1-based sequences); the script returns a table with
//! `status` (one of Argo CD's health codes) and optionally `message`.
//!
//! Sandbox: without `useOpenLibs` a script gets the base library without `dofile`, `loadfile`,
//! `load`, `loadstring`, `require` and `module`, plus `table`, `string`, `math` and a safe `os`
//! holding only `time`, `date`, `clock` and `difftime` (Argo CD's "safe os"). With
//! `useOpenLibs` it gets every library mlua calls safe (including `io`, `os` and `package`, but
//! never `debug`), as Argo CD opens all of gopher-lua's. Every run is bounded by [`Limits`].

use capstan_types::glob::{is_glob, matches as glob_match};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use capstan_types::settings::{GroupKindPattern, ResourceCustomization};
use mlua::{HookTriggers, Lua, LuaOptions, StdLib, VmState};
use serde_json::Value;

use crate::{Health, HealthError, HealthStatusCode};

/// How often (in VM instructions) the budget hook runs.
const HOOK_INTERVAL: u32 = 1_000;

/// Argo CD's message for a status it does not know.
const INVALID_HEALTH_STATUS: &str = "Lua returned an invalid health status";

/// Bounds on one health script run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// VM instructions a script may execute (counted in steps of 1,000).
    pub max_instructions: u64,
    /// Wall-clock time a script may run (Argo CD: 1 s).
    pub max_duration: Duration,
    /// Bytes the Lua state may allocate, the converted object included.
    pub max_memory: usize,
}

impl Default for Limits {
    /// 10 million instructions, 1 second, 64 MiB: far above what any status-reading script
    /// needs, low enough that a runaway script costs the controller little.
    fn default() -> Self {
        Self {
            max_instructions: 10_000_000,
            max_duration: Duration::from_secs(1),
            max_memory: 64 * 1024 * 1024,
        }
    }
}

/// One compiled-checked health script.
#[derive(Clone, Debug)]
pub(crate) struct Script {
    source: String,
    use_open_libs: bool,
}

/// The health scripts of `argocd-cm`, indexed for lookup by group/kind.
#[derive(Clone, Debug, Default)]
pub(crate) struct Scripts {
    /// Keys without glob characters, by their `group/Kind` (or `Kind`) string.
    exact: BTreeMap<String, Script>,
    /// Keys with glob characters, most specific (most literal characters) first.
    wildcard: Vec<(String, Script)>,
    limits: Limits,
}

impl Scripts {
    /// Checks that every `health_lua` compiles and indexes them.
    pub(crate) fn compile(
        customizations: &BTreeMap<GroupKindPattern, ResourceCustomization>,
        limits: Limits,
    ) -> Result<Self, HealthError> {
        let mut scripts = Self {
            limits,
            ..Self::default()
        };
        let lua = sandbox(false).map_err(HealthError::Sandbox)?;
        for (pattern, customization) in customizations {
            let Some(source) = customization.health_lua.as_deref() else {
                continue;
            };
            let key = pattern.to_string();
            lua.load(source)
                .set_name(chunk_name(&key))
                .into_function()
                .map_err(|err| HealthError::Compile {
                    group_kind: key.clone(),
                    message: lua_message(&err),
                })?;
            let script = Script {
                source: source.to_owned(),
                use_open_libs: customization.use_open_libs,
            };
            if is_glob(&key) {
                scripts.wildcard.push((key, script));
            } else {
                scripts.exact.insert(key, script);
            }
        }
        // Argo CD takes whichever wildcard key its map iteration meets first; Capstan makes the
        // choice deterministic and prefers the most specific key (a stable sort keeps key order
        // among equals).
        scripts.wildcard.sort_by_key(|(key, _)| {
            std::cmp::Reverse(key.chars().filter(|c| !matches!(c, '*' | '?')).count())
        });
        Ok(scripts)
    }

    /// The script for `group`/`kind`: the exact key, else the most specific matching wildcard
    /// key.
    pub(crate) fn find(&self, group: &str, kind: &str) -> Option<(&str, &Script)> {
        let key = GroupKindPattern::new(group, kind).to_string();
        self.exact
            .get_key_value(&key)
            .map(|(k, script)| (k.as_str(), script))
            .or_else(|| {
                self.wildcard
                    .iter()
                    .find(|(pattern, _)| glob_match(pattern, &key))
                    .map(|(pattern, script)| (pattern.as_str(), script))
            })
    }

    pub(crate) fn run(
        &self,
        script: &Script,
        obj: &Value,
        group: &str,
        kind: &str,
    ) -> Result<Option<Health>, HealthError> {
        let group_kind = GroupKindPattern::new(group, kind).to_string();
        let lua = sandbox(script.use_open_libs).map_err(HealthError::Sandbox)?;
        lua.set_memory_limit(self.limits.max_memory)
            .map_err(HealthError::Sandbox)?;

        let over_budget = install_budget(&lua, self.limits).map_err(HealthError::Sandbox)?;

        let result = to_lua(&lua, obj)
            .and_then(|value| lua.globals().set("obj", value))
            .and_then(|()| {
                lua.load(&script.source)
                    .set_name(chunk_name(&group_kind))
                    .eval::<mlua::Value>()
            });
        let value = match result {
            Ok(value) => value,
            Err(_) if over_budget.load(Ordering::Relaxed) => {
                return Err(HealthError::TimeLimit { group_kind });
            }
            Err(err) if is_memory_error(&err) => {
                return Err(HealthError::MemoryLimit { group_kind });
            }
            Err(err) => {
                return Err(HealthError::Script {
                    group_kind,
                    message: lua_message(&err),
                });
            }
        };
        interpret(value, &group_kind)
    }
}

/// Turns a script's return value into a health, following Argo CD's `ExecuteHealthLua`.
fn interpret(value: mlua::Value, group_kind: &str) -> Result<Option<Health>, HealthError> {
    let table = match value {
        mlua::Value::Nil => return Ok(None),
        mlua::Value::Table(table) => table,
        other => {
            return Err(HealthError::Script {
                group_kind: group_kind.to_owned(),
                message: format!(
                    "expect table output from Lua script, not {}",
                    other.type_name()
                ),
            });
        }
    };
    let script_error = |message: String| HealthError::Script {
        group_kind: group_kind.to_owned(),
        message,
    };
    let status = match table
        .raw_get::<mlua::Value>("status")
        .map_err(HealthError::Sandbox)?
    {
        mlua::Value::Nil => {
            let empty = table.pairs::<mlua::Value, mlua::Value>().next().is_none();
            if empty {
                // Argo CD: an empty table is an empty status, i.e. no health.
                return Ok(None);
            }
            return Ok(Some(Health::unknown(INVALID_HEALTH_STATUS)));
        }
        mlua::Value::String(status) => status.to_string_lossy(),
        other => {
            return Err(script_error(format!(
                "status must be a string, not {}",
                other.type_name()
            )));
        }
    };
    let message = match table
        .raw_get::<mlua::Value>("message")
        .map_err(HealthError::Sandbox)?
    {
        mlua::Value::Nil => String::new(),
        mlua::Value::String(message) => message.to_string_lossy(),
        mlua::Value::Integer(n) => n.to_string(),
        mlua::Value::Number(n) => n.to_string(),
        other => {
            return Err(script_error(format!(
                "message must be a string, not {}",
                other.type_name()
            )));
        }
    };
    let status = HealthStatusCode::from(status.as_str());
    if !status.is_known() {
        return Ok(Some(Health::unknown(INVALID_HEALTH_STATUS)));
    }
    let health = Health::new(status, message);
    Ok(Some(health.or_message(|| {
        format!("the health script for {group_kind} gave no message")
    })))
}

/// Wraps `pcall`, `xpcall` and `coroutine.resume` so that, once the budget is spent, the error
/// the hook raised cannot be swallowed: each re-raises it as soon as the protected call returns.
const GUARD: &str = r#"
local over = ...
local function check(...)
  if over() then error("health script exceeded its time limit", 0) end
  return ...
end
local raw_pcall, raw_xpcall = pcall, xpcall
pcall = function(...) return check(raw_pcall(...)) end
xpcall = function(...) return check(raw_xpcall(...)) end
if coroutine ~= nil then
  local raw_resume = coroutine.resume
  coroutine.resume = function(...) return check(raw_resume(...)) end
end
"#;

/// Installs the instruction/time budget on `lua`; the returned flag is set once it is spent.
///
/// A count hook runs every [`HOOK_INTERVAL`] instructions and raises an error when the
/// instruction budget or the deadline is exceeded, and on every later call too; [`GUARD`]
/// keeps scripts from catching that error.
fn install_budget(lua: &Lua, limits: Limits) -> mlua::Result<Arc<AtomicBool>> {
    let over_budget = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&over_budget);
    let over = lua.create_function(move |_, ()| Ok(flag.load(Ordering::Relaxed)))?;
    lua.load(GUARD).set_name("=sandbox").call::<()>(over)?;

    let executed = AtomicU64::new(0);
    let deadline = Instant::now() + limits.max_duration;
    let flag = Arc::clone(&over_budget);
    // A global hook, so that coroutines the script creates are counted too.
    lua.set_global_hook(
        HookTriggers::new().every_nth_instruction(HOOK_INTERVAL),
        move |_, _| {
            let step = u64::from(HOOK_INTERVAL);
            let count = executed.fetch_add(step, Ordering::Relaxed) + step;
            if flag.load(Ordering::Relaxed)
                || count > limits.max_instructions
                || Instant::now() > deadline
            {
                flag.store(true, Ordering::Relaxed);
                return Err(mlua::Error::runtime(
                    "health script exceeded its time limit",
                ));
            }
            Ok(VmState::Continue)
        },
    )?;
    Ok(over_budget)
}

/// A fresh Lua 5.1 state with the libraries Argo CD gives health scripts.
fn sandbox(use_open_libs: bool) -> mlua::Result<Lua> {
    if use_open_libs {
        return Lua::new_with(StdLib::ALL_SAFE, LuaOptions::new());
    }
    let lua = Lua::new_with(
        StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::OS,
        LuaOptions::new(),
    )?;
    let globals = lua.globals();
    for name in [
        "dofile",
        "loadfile",
        "load",
        "loadstring",
        "require",
        "module",
    ] {
        globals.raw_set(name, mlua::Nil)?;
    }
    let os: mlua::Table = globals.get("os")?;
    let safe_os = lua.create_table()?;
    for name in ["time", "date", "clock", "difftime"] {
        safe_os.raw_set(name, os.raw_get::<mlua::Value>(name)?)?;
    }
    globals.raw_set("os", safe_os)?;
    Ok(lua)
}

/// The JSON value as Lua sees it in Argo CD: objects are tables, arrays 1-based sequences,
/// numbers Lua numbers, `null` is `nil`.
fn to_lua(lua: &Lua, value: &Value) -> mlua::Result<mlua::Value> {
    Ok(match value {
        Value::Null => mlua::Value::Nil,
        Value::Bool(b) => mlua::Value::Boolean(*b),
        Value::Number(n) => mlua::Value::Number(n.as_f64().unwrap_or_default()),
        Value::String(s) => mlua::Value::String(lua.create_string(s)?),
        Value::Array(items) => {
            let table = lua.create_table_with_capacity(items.len(), 0)?;
            for (index, item) in items.iter().enumerate() {
                table.raw_set(index + 1, to_lua(lua, item)?)?;
            }
            mlua::Value::Table(table)
        }
        Value::Object(fields) => {
            let table = lua.create_table_with_capacity(0, fields.len())?;
            for (key, item) in fields {
                table.raw_set(key.as_str(), to_lua(lua, item)?)?;
            }
            mlua::Value::Table(table)
        }
    })
}

/// Chunk name for error messages: `<key> health.lua:<line>: ...`.
fn chunk_name(group_kind: &str) -> String {
    format!("={group_kind} health.lua")
}

/// The useful part of an mlua error: the Lua message without mlua's prefix and traceback.
fn lua_message(err: &mlua::Error) -> String {
    let text = match err {
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        mlua::Error::RuntimeError(message) => message.clone(),
        mlua::Error::CallbackError { cause, .. } => return lua_message(cause),
        mlua::Error::WithContext { cause, .. } => return lua_message(cause),
        other => other.to_string(),
    };
    match text.split_once("\nstack traceback:") {
        Some((message, _)) => message.to_owned(),
        None => text,
    }
}

fn is_memory_error(err: &mlua::Error) -> bool {
    match err {
        mlua::Error::MemoryError(_) => true,
        mlua::Error::CallbackError { cause, .. } | mlua::Error::WithContext { cause, .. } => {
            is_memory_error(cause)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn glob_matches_whole_keys() {
        let cases = [
            ("*.crossplane.io/*", "s3.aws.crossplane.io/Bucket", true),
            ("*.crossplane.io/*", "apps/Deployment", false),
            ("*/*", "apps/Deployment", true),
            ("*/*", "ConfigMap", false),
            ("*", "ConfigMap", true),
            (
                "cert-manager.io/Cert?ficate",
                "cert-manager.io/Certificate",
                true,
            ),
            ("apps/*Set", "apps/StatefulSet", true),
            ("apps/*Set", "apps/Deployment", false),
        ];
        for (pattern, text, want) in cases {
            assert_eq!(glob_match(pattern, text), want, "{pattern} vs {text}");
        }
    }
}
